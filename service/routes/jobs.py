"""Scheduled jobs over HTTP (admins): the timetable, running a job now, the run history; and
the basic statistics."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from customers.config import Settings
from jobs import history, stats
from jobs.runner import Run, ensure_known
from jobs.schedule import Entry, entries_for, jobs_by_name
from jobs.triggers import load_jobs_settings
from service.deps import AdminDep, ConnDep, Forbidden, ReaderDep, SettingsDep
from service.responses import ErrorBody, JSONResponse
from service.routes.customers import MAX_ID

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "VALIDATION_FAILED with field errors"}
}
_NO_JOB: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "JOB_NOT_FOUND"}, **_INVALID}
# run ids are PostgreSQL bigints: a larger number is a field error, never sent to the database
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The id the service assigned to the run")]

router = APIRouter(tags=["jobs"])

# runs started over HTTP and not finished yet (a reference keeps each task alive)
_background: set[asyncio.Task[Any]] = set()


def _entries(settings: Settings) -> list[Entry]:
    return entries_for(settings, load_jobs_settings())


@router.get("/jobs")
async def list_jobs(_: AdminDep, conn: ConnDep, settings: SettingsDep) -> JSONResponse:
    """Every job with its schedule, next fire time, last finished run and current run, and the
    scheduler process that leads now."""
    return JSONResponse(await history.list_jobs(conn, _entries(settings)))


@router.get("/jobs/history", responses=_NO_JOB)
async def all_history(
    _: AdminDep, conn: ConnDep, job: str | None = None, limit: int = Query(50, ge=1, le=1000)
) -> JSONResponse:
    """The latest runs of every job (or of `job`), newest first."""
    return JSONResponse(await history.history(conn, job, limit, set(jobs_by_name())))


@router.get(
    "/jobs/runs/{run_id:int}", responses={404: {"model": ErrorBody, "description": "RUN_NOT_FOUND"}, **_INVALID}
)
async def get_run(_: AdminDep, conn: ConnDep, run_id: RunId) -> JSONResponse:
    """One run: status, times, result summary or error text, last progress."""
    return JSONResponse(await history.get_run(conn, run_id))


@router.get("/jobs/{name}/history", responses=_NO_JOB)
async def job_history(_: AdminDep, conn: ConnDep, name: str, limit: int = Query(50, ge=1, le=1000)) -> JSONResponse:
    """The latest runs of one job, newest first."""
    return JSONResponse(await history.history(conn, name, limit, set(jobs_by_name())))


@router.post(
    "/jobs/{name}/run",
    status_code=202,
    responses={
        200: {"description": "with `wait=true`: the finished run"},
        **_NO_JOB,
        409: {"model": ErrorBody, "description": "JOB_RUNNING or JOB_UNAVAILABLE"},
    },
)
async def run_now(request: Request, _: AdminDep, settings: SettingsDep, name: str, wait: bool = False) -> JSONResponse:
    """Run a job now in this service process. Answers 202 with the started run (poll
    `/jobs/runs/{id}`), or with `wait=true` 200 with the finished run."""
    job = ensure_known(name, jobs_by_name())
    run = await Run.begin(
        job,
        conninfo=request.app.state.db_target.conninfo,
        settings=settings,
        origin="http",
        history_days=load_jobs_settings().jobs_history_days,
    )
    assert run is not None  # only scheduled runs are skipped silently
    task = asyncio.create_task(run.execute())
    _background.add(task)
    task.add_done_callback(_background.discard)
    if wait:
        return JSONResponse(await asyncio.shield(task))
    return JSONResponse(run.record, status_code=202)


@router.get(
    "/stats",
    responses={403: {"model": ErrorBody, "description": "FORBIDDEN: `fresh=true` needs the admin role"}, **_INVALID},
)
async def get_stats(caller: ReaderDep, conn: ConnDep, fresh: bool = False) -> JSONResponse:
    """Basic statistics: totals, created per day (90 days) and per month, fill rate and top
    values of every questionnaire field, as of the last snapshot (`fresh=true`, admins only:
    computed now)."""
    if fresh and caller.role != "admin":
        raise Forbidden("fresh statistics need the admin role")
    return JSONResponse(await stats.current(conn, fresh))
