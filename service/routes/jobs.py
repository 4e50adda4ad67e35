"""Scheduled jobs over HTTP (admins): the timetable, running a job now, the run history; and
the basic statistics.

The jobs themselves are not the service's: whoever builds the application hands it an object
that administers them (`JobsAdmin`), and these routes are served only then."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request

from customers.config import Settings
from customers.db import AsyncConn
from service.deps import AdminDep, ConnDep, Forbidden, ReaderDep, SettingsDep
from service.params import MAX_ID
from service.responses import ErrorBody, JSONResponse

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "VALIDATION_FAILED with field errors"}
}
_NO_JOB: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "JOB_NOT_FOUND"}, **_INVALID}
# run ids are PostgreSQL bigints: a larger number is a field error, never sent to the database
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The id the service assigned to the run")]


class JobRun(Protocol):
    """A run that has begun: its record now, the finished record once executed."""

    @property
    def record(self) -> dict[str, Any]: ...

    async def execute(self) -> dict[str, Any]: ...


class JobsAdmin(Protocol):
    """What the service asks of the scheduled jobs. Unknown jobs and runs raise the service's
    NotFound errors; a job that cannot start now raises its Conflict."""

    async def list_jobs(self, conn: AsyncConn, settings: Settings) -> dict[str, Any]: ...

    async def run_history(self, conn: AsyncConn, job: str | None, limit: int) -> dict[str, Any]: ...

    async def get_run(self, conn: AsyncConn, run_id: int) -> dict[str, Any]: ...

    async def begin_run(self, name: str, *, conninfo: str, settings: Settings) -> JobRun: ...

    async def current_stats(self, conn: AsyncConn, fresh: bool) -> dict[str, Any]: ...


async def _jobs_admin(request: Request) -> JobsAdmin:
    admin: JobsAdmin = request.app.state.jobs_admin
    return admin


JobsDep = Annotated[JobsAdmin, Depends(_jobs_admin)]

router = APIRouter(tags=["jobs"])

# runs started over HTTP and not finished yet (a reference keeps each task alive)
_background: set[asyncio.Task[Any]] = set()


@router.get("/jobs")
async def list_jobs(_: AdminDep, conn: ConnDep, settings: SettingsDep, jobs: JobsDep) -> JSONResponse:
    """Every job with its schedule, next fire time, last finished run and current run, and the
    scheduler process that leads now."""
    return JSONResponse(await jobs.list_jobs(conn, settings))


@router.get("/jobs/history", responses=_NO_JOB)
async def all_history(
    _: AdminDep, conn: ConnDep, jobs: JobsDep, job: str | None = None, limit: int = Query(50, ge=1, le=1000)
) -> JSONResponse:
    """The latest runs of every job (or of `job`), newest first."""
    return JSONResponse(await jobs.run_history(conn, job, limit))


@router.get(
    "/jobs/runs/{run_id:int}", responses={404: {"model": ErrorBody, "description": "RUN_NOT_FOUND"}, **_INVALID}
)
async def get_run(_: AdminDep, conn: ConnDep, jobs: JobsDep, run_id: RunId) -> JSONResponse:
    """One run: status, times, result summary or error text, last progress."""
    return JSONResponse(await jobs.get_run(conn, run_id))


@router.get("/jobs/{name}/history", responses=_NO_JOB)
async def job_history(
    _: AdminDep, conn: ConnDep, jobs: JobsDep, name: str, limit: int = Query(50, ge=1, le=1000)
) -> JSONResponse:
    """The latest runs of one job, newest first."""
    return JSONResponse(await jobs.run_history(conn, name, limit))


@router.post(
    "/jobs/{name}/run",
    status_code=202,
    responses={
        200: {"description": "with `wait=true`: the finished run"},
        **_NO_JOB,
        409: {"model": ErrorBody, "description": "JOB_RUNNING or JOB_UNAVAILABLE"},
    },
)
async def run_now(
    request: Request, _: AdminDep, settings: SettingsDep, jobs: JobsDep, name: str, wait: bool = False
) -> JSONResponse:
    """Run a job now in this service process. Answers 202 with the started run (poll
    `/jobs/runs/{id}`), or with `wait=true` 200 with the finished run."""
    run = await jobs.begin_run(name, conninfo=request.app.state.db_target.conninfo, settings=settings)
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
async def get_stats(caller: ReaderDep, conn: ConnDep, jobs: JobsDep, fresh: bool = False) -> JSONResponse:
    """Basic statistics: totals, created per day (90 days) and per month, fill rate and top
    values of every questionnaire field, as of the last snapshot (`fresh=true`, admins only:
    computed now)."""
    if fresh and caller.role != "admin":
        raise Forbidden("fresh statistics need the admin role")
    return JSONResponse(await jobs.current_stats(conn, fresh))
