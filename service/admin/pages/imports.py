"""The imports page: upload a CSV or Parquet file (mode, duplicates, encoding, dry run), its
progress while it runs, the report, the rejects as CSV, and the history of runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from customers.db import AsyncConn
from customers.errors import NotFound, ValidationFailed
from service.admin.deps import StateDep, Viewer, ViewerDep, WriterDep
from service.admin.routing import AdminRoute, render
from service.admin.state import AdminState
from service.admin.uploads import (
    ENCODINGS,
    MODES,
    ON_DUPLICATE,
    REJECTS_FILE,
    ImportRunner,
    receive_file,
    start_import,
    upload_options,
)
from service.deps import ConnDep, SettingsDep
from service.params import MAX_ID

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
HISTORY = 50


class ImportsUnavailable(NotFound):
    code = "IMPORTS_UNAVAILABLE"


class RunNotFound(NotFound):
    code = "IMPORT_RUN_NOT_FOUND"


class RejectsNotKept(NotFound):
    code = "REJECTS_NOT_KEPT"


def _runner(state: AdminState) -> ImportRunner:
    if state.imports is None:
        raise ImportsUnavailable("this server was started without the bulk import (see docs/admin.md)")
    return state.imports


def rejects_path(state: AdminState, report: dict[str, Any]) -> Path | None:
    """The rejects file of a run, when it was uploaded here and the file is still kept (never a
    path outside the admin's own task folders: runs of the command line write theirs elsewhere)."""
    recorded = report.get("rejects_file")
    if not recorded:
        return None
    path = Path(recorded).resolve()
    if path.name != REJECTS_FILE or not path.is_relative_to(state.tasks.root.resolve()) or not path.is_file():
        return None
    return path


@router.get("/imports")
async def imports_page(request: Request, viewer: ViewerDep, state: StateDep, conn: ConnDep) -> Response:
    """The upload form (admins) and the latest runs."""
    runs = await state.imports.list_runs(conn, HISTORY) if state.imports is not None else []
    return render(
        request,
        "imports.html",
        viewer,
        nav="imports",
        available=state.imports is not None,
        runs=runs,
        modes=MODES,
        on_duplicate=ON_DUPLICATE,
        encodings=ENCODINGS,
        max_bytes=state.admin.admin_upload_max_bytes,
    )


@router.post("/imports/upload")
async def upload(request: Request, viewer: WriterDep, state: StateDep, settings: SettingsDep) -> Response:
    """The file as the request's raw body (options in the query string), streamed to disk, then
    imported on a worker thread; answers the progress fragment, which polls itself."""
    runner = _runner(state)
    try:
        options = upload_options(dict(request.query_params))
    except ValidationFailed as exc:
        return render(request, "_upload_refused.html", viewer, status=422, errors=exc.errors)
    task_id = state.tasks.create(
        "import", name=options.name, mode=options.mode, dry_run=options.dry_run, on_duplicate=options.on_duplicate
    )
    folder = state.tasks.folder(task_id) / "upload"
    folder.mkdir()
    try:
        size = await receive_file(request.stream(), folder / options.name, state.admin.admin_upload_max_bytes)
    except BaseException:
        # refused past the size limit, or the browser went away: nothing of it is kept
        state.tasks.discard(task_id)
        raise
    state.tasks.update(task_id, size=size)
    start_import(
        state.tasks,
        task_id,
        runner,
        folder / options.name,
        options,
        conninfo=request.app.state.db_target.conninfo,
        settings=settings,
    )
    return _task_fragment(request, viewer, state, task_id, status=202)


def _task_fragment(request: Request, viewer: Viewer, state: AdminState, task_id: str, *, status: int = 200) -> Response:
    task = state.tasks.get(task_id)
    if task is None or task["kind"] != "import":
        raise RunNotFound("no such upload (it may have been removed after admin_keep_days)")
    result = task.get("result") or {}
    run_id = result.get("run_id")
    rejects_url = f"/admin/imports/runs/{run_id}/rejects.csv" if run_id and rejects_path(state, result) else None
    response = render(request, "_import_task.html", viewer, status=status, task=task, rejects_url=rejects_url)
    if task["status"] not in ("queued", "running"):
        response.headers["HX-Trigger"] = "import-finished"  # the page reloads its history
    return response


@router.get("/imports/tasks/{task_id}")
async def import_task(request: Request, task_id: str, viewer: ViewerDep, state: StateDep) -> Response:
    """The progress of an upload's import, then its report (a fragment the page polls)."""
    return _task_fragment(request, viewer, state, task_id)


async def _run(state: AdminState, conn: AsyncConn, run_id: int) -> dict[str, Any]:
    run = await _runner(state).get_run(conn, run_id) if 1 <= run_id <= MAX_ID else None
    if run is None:
        raise RunNotFound(f"import run {run_id} does not exist")
    return run


@router.get("/imports/runs/{run_id:int}")
async def import_run(request: Request, run_id: int, viewer: ViewerDep, state: StateDep, conn: ConnDep) -> Response:
    """One run's report, from the database."""
    run = await _run(state, conn, run_id)
    report = run.get("report") or {}
    has_rejects = rejects_path(state, report) is not None
    return render(request, "import_run.html", viewer, nav="imports", run=run, report=report, has_rejects=has_rejects)


@router.get("/imports/runs/{run_id:int}/rejects.csv")
async def rejects_csv(run_id: int, _: ViewerDep, state: StateDep, conn: ConnDep) -> Response:
    """The run's rejects (row, column, code, value, message) as CSV."""
    run = await _run(state, conn, run_id)
    path = rejects_path(state, run.get("report") or {})
    if path is None:
        raise RejectsNotKept("this run's rejects file is not kept here (see admin_keep_days)")
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"rejects-run-{run_id}.csv")
