"""The search index (when search is on): its status, a rebuild (`migrate`) with its progress, and
the consistency check with PostgreSQL (optionally repairing). Both run as background tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from customers import search
from customers.errors import CustomersError, NotFound
from service.admin.deps import StateDep, ViewerDep, WriterDep
from service.admin.forms import read_form
from service.admin.routing import AdminRoute, redirect, render
from service.admin.tasks import Progress
from service.deps import SettingsDep

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
SAMPLE = 200


class TaskNotFound(NotFound):
    code = "TASK_NOT_FOUND"


@router.get("/index")
async def index_page(
    request: Request, viewer: ViewerDep, state: StateDep, settings: SettingsDep, task: str = ""
) -> Response:
    """Status of the index; the rebuild or check asked for last (`task`), followed while it runs."""
    info = error = None
    if settings.search_enabled:
        try:
            info = await run_in_threadpool(search.index_status, settings)
        except CustomersError as exc:
            error = f"{exc.message} ({exc.code})"
    current = state.tasks.get(task) if task else None
    if current is not None and current["kind"] not in ("rebuild", "check"):
        current = None
    return render(request, "index.html", viewer, nav="index", info=info, error=error, task=current)


@router.post("/index/migrate")
async def migrate(_: WriterDep, state: StateDep, settings: SettingsDep) -> Response:
    """Rebuild the index from the questionnaire in force, in chunks, then switch to it."""
    search.require_enabled(settings)
    task_id = state.tasks.create("rebuild")

    def work(progress: Progress) -> dict[str, Any]:
        return search.migrate_index(settings, progress=progress).to_dict()

    state.tasks.start(task_id, work)
    return redirect(f"/admin/index?task={task_id}")


@router.post("/index/check")
async def check(request: Request, _: WriterDep, state: StateDep, settings: SettingsDep) -> Response:
    """Compare the index with PostgreSQL (counts, every id, a sample field by field); repair on demand."""
    search.require_enabled(settings)
    repair = (await read_form(request)).get("repair") == "true"
    task_id = state.tasks.create("check", repair=repair)

    def work(progress: Progress) -> dict[str, Any]:
        return search.check_consistency(settings, sample=SAMPLE, repair=repair).to_dict()

    state.tasks.start(task_id, work)
    return redirect(f"/admin/index?task={task_id}")


@router.get("/index/tasks/{task_id}")
async def task_state(request: Request, task_id: str, viewer: ViewerDep, state: StateDep) -> Response:
    """A rebuild's or check's progress, then its result (a fragment the page polls)."""
    task = state.tasks.get(task_id)
    if task is None or task["kind"] not in ("rebuild", "check"):
        raise TaskNotFound("no such task (it may have been removed after admin_keep_days)")
    return render(request, "_index_task.html", viewer, task=task)
