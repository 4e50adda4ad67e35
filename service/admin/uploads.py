"""Files uploaded for import: streamed to disk as they arrive, then imported off the event loop.

The bulk import is not the service's (`service` may not import `etl`): whoever builds the
application hands it an `ImportRunner` (the composition root gives `etl.admin.ImportsAdmin`),
as it hands it the jobs' administration. Without one the imports page says so.

An upload is the request's raw body (the page's script sends the file as it is, the options in
the query string), written chunk by chunk into the folder of a new task; the service's
middleware lets this one path past `http_max_body_bytes` and counts it against
`admin_upload_max_bytes` instead (413 past it, the partial file removed).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from customers.config import Settings
from customers.db import AsyncConn
from customers.errors import CustomersError, FieldError, ValidationFailed
from service.admin.tasks import Progress, TaskStore

Mode = Literal["insert", "upsert", "update"]
OnDuplicate = Literal["first", "last", "reject"]
Encoding = Literal["utf-8", "cp1251"]
MODES: tuple[Mode, ...] = ("insert", "upsert", "update")
ON_DUPLICATE: tuple[OnDuplicate, ...] = ("first", "last", "reject")
ENCODINGS: tuple[Encoding, ...] = ("utf-8", "cp1251")
EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".pq")
UPLOAD_PATH = "/admin/imports/upload"
REJECTS_FILE = "rejects.csv"


class ImportRunner(Protocol):
    """What the admin page asks of the bulk import."""

    def run_import(
        self,
        path: Path,
        *,
        mode: Mode,
        on_duplicate: OnDuplicate,
        encoding: Encoding,
        dry_run: bool,
        rejects: Path,
        conninfo: str,
        settings: Settings,
        progress: Callable[[int], None],
    ) -> dict[str, Any]:
        """Import one file (blocking; called on a worker thread) and bring the search index up
        to date; the report as JSON. A file refused as a whole raises a CustomersError."""
        ...

    async def list_runs(self, conn: AsyncConn, limit: int) -> list[dict[str, Any]]:
        """The latest import runs from the database, newest first."""
        ...

    async def get_run(self, conn: AsyncConn, run_id: int) -> dict[str, Any] | None:
        """One import run with its report, or None."""
        ...


class UploadTooLarge(CustomersError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


@dataclass(frozen=True)
class UploadOptions:
    """What the upload form asked for."""

    name: str
    mode: Mode
    on_duplicate: OnDuplicate
    encoding: Encoding
    dry_run: bool


def upload_options(query: dict[str, str]) -> UploadOptions:
    """The options of an upload from its query string; every problem a field error."""
    errors: list[FieldError] = []
    name = safe_name(query.get("name", ""))
    if not name.lower().endswith(EXTENSIONS):
        errors.append(
            FieldError("file", "INVALID_FORMAT", f"a CSV or Parquet file is expected ({', '.join(EXTENSIONS)})")
        )

    def choice(field: str, allowed: tuple[str, ...], default: str) -> Any:
        value = query.get(field) or default
        if value not in allowed:
            errors.append(FieldError(field, "INVALID_ENUM_VALUE", f"one of {', '.join(allowed)}", value))
        return value

    options = UploadOptions(
        name=name,
        mode=choice("mode", MODES, "insert"),
        on_duplicate=choice("on_duplicate", ON_DUPLICATE, "first"),
        encoding=choice("encoding", ENCODINGS, "utf-8"),
        dry_run=query.get("dry_run") in ("1", "true", "on"),
    )
    if errors:
        raise ValidationFailed(errors)
    return options


def safe_name(raw: str) -> str:
    """A file name to keep on disk: the last path part, harmless characters only."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")[:120]
    return cleaned or "upload"


async def receive_file(chunks: AsyncIterator[bytes], target: Path, limit: int) -> int:
    """Write a request body to `target` as it arrives; its size. Past `limit` bytes the file is
    removed and UploadTooLarge raised (the middleware enforces the same limit on the wire)."""
    size = 0
    try:
        with target.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"the file is larger than {limit} bytes (admin_upload_max_bytes)")
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size


def start_import(
    tasks: TaskStore,
    task_id: str,
    runner: ImportRunner,
    path: Path,
    options: UploadOptions,
    *,
    conninfo: str,
    settings: Settings,
) -> None:
    """Import the uploaded file on a task thread; the uploaded file is deleted afterwards, the
    rejects file is kept with the task."""

    def work(progress: Progress) -> dict[str, Any]:
        try:
            return runner.run_import(
                path,
                mode=options.mode,
                on_duplicate=options.on_duplicate,
                encoding=options.encoding,
                dry_run=options.dry_run,
                rejects=path.parent / REJECTS_FILE,
                conninfo=conninfo,
                settings=settings,
                progress=lambda rows: progress(rows),
            )
        finally:
            path.unlink(missing_ok=True)

    tasks.start(task_id, work)
