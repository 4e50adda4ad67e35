"""Bulk imports as the HTTP service's admin page runs them (what `service.admin.uploads.
ImportRunner` asks of them): one uploaded file through the pipeline, and the run history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from customers.config import Settings
from customers.db import AsyncConn
from etl import history
from etl.duplicates import OnDuplicate
from etl.load import Mode
from etl.pipeline import ImportOptions, import_file, publish
from etl.read import ReadOptions


class ImportsAdmin:
    """The pipeline of `customers import`, for one file at a time."""

    def run_import(
        self,
        path: Path,
        *,
        mode: Mode,
        on_duplicate: OnDuplicate,
        encoding: Literal["utf-8", "cp1251"],
        dry_run: bool,
        rejects: Path,
        conninfo: str,
        settings: Settings,
        progress: Callable[[int], None],
    ) -> dict[str, Any]:
        """Import one file (blocking) and bring the search index up to date; its report."""
        options = ImportOptions(
            read=ReadOptions(encoding=encoding),
            mode=mode,
            on_duplicate=on_duplicate,
            dry_run=dry_run,
            rejects=rejects,
            region=settings.phone_default_region,
        )
        report = import_file(conninfo, path, options, progress=progress)
        publish(report, settings)
        return report.to_dict()

    async def list_runs(self, conn: AsyncConn, limit: int) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        return await history.list_runs(conn, limit)

    async def get_run(self, conn: AsyncConn, run_id: int) -> dict[str, Any] | None:
        """One run with its report."""
        return await history.get_run(conn, run_id)
