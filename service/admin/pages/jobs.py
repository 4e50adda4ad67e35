"""Jobs and statistics: the scheduled jobs with their next run and last result, the run history,
running a job now; the statistics with charts (server-rendered SVG).

The jobs are administered by the object the application was given (`service.routes.jobs.
JobsAdmin`, from the composition root); without one the page says so."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from customers.config import Settings
from customers.db import AsyncConn
from customers.errors import Conflict, NotFound
from service.admin.charts import per_day_chart, totals_shares
from service.admin.deps import Viewer, ViewerDep, WriterDep
from service.admin.routing import AdminRoute, redirect, render
from service.deps import ConnDep, SettingsDep
from service.params import MAX_ID
from service.routes.jobs import JobsAdmin

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
HISTORY = 30

# runs started from the page and not finished yet (a reference keeps each task alive)
_running: set[asyncio.Task[Any]] = set()


class JobsUnavailable(NotFound):
    code = "JOBS_UNAVAILABLE"


def _jobs(request: Request) -> JobsAdmin | None:
    return getattr(request.app.state, "jobs_admin", None)


def _require(request: Request) -> JobsAdmin:
    jobs = _jobs(request)
    if jobs is None:
        raise JobsUnavailable("this server was started without the scheduled jobs (see docs/admin.md)")
    return jobs


async def _page(
    request: Request,
    viewer: Viewer,
    conn: AsyncConn,
    settings: Settings,
    *,
    status: int = 200,
    error: str | None = None,
) -> Response:
    jobs = _jobs(request)
    listing = history = stats = None
    if jobs is not None:
        listing = await jobs.list_jobs(conn, settings)
        history = (await jobs.run_history(conn, None, HISTORY))["items"]
        stats = await jobs.current_stats(conn, False)
    return render(
        request,
        "jobs.html",
        viewer,
        status=status,
        nav="jobs",
        available=jobs is not None,
        listing=listing,
        history=history,
        stats=stats,
        chart=per_day_chart(stats["created_per_day"]) if stats else None,
        shares=totals_shares(stats["customers"]) if stats else [],
        error=error,
        highlight=request.query_params.get("run", ""),
    )


@router.get("/jobs")
async def jobs_page(request: Request, viewer: ViewerDep, conn: ConnDep, settings: SettingsDep) -> Response:
    """The timetable, the history and the statistics."""
    return await _page(request, viewer, conn, settings)


@router.post("/jobs/{name}/run")
async def run_now(request: Request, name: str, viewer: WriterDep, conn: ConnDep, settings: SettingsDep) -> Response:
    """Start a job now in this process; the history shows the run (and follows it)."""
    jobs = _require(request)
    try:
        run = await jobs.begin_run(name, conninfo=request.app.state.db_target.conninfo, settings=settings)
    except Conflict as exc:
        return await _page(request, viewer, conn, settings, status=exc.status, error=f"{exc.message} ({exc.code})")
    task = asyncio.create_task(run.execute())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return redirect(f"/admin/jobs?done=started&run={run.record['id']}#history")


@router.get("/jobs/runs/{run_id:int}")
async def run_row(request: Request, run_id: int, viewer: ViewerDep, conn: ConnDep) -> Response:
    """One run as a row of the history (the page polls a running one)."""
    if not 1 <= run_id <= MAX_ID:
        raise JobsUnavailable(f"job run {run_id} does not exist")
    run = await _require(request).get_run(conn, run_id)
    return render(request, "_job_run.html", viewer, run=run, highlight=str(run_id))


@router.post("/stats/refresh")
async def refresh_stats(request: Request, _: WriterDep, conn: ConnDep) -> Response:
    """Compute the statistics now."""
    await _require(request).current_stats(conn, True)
    return redirect("/admin/jobs?done=stats#statistics")
