"""The scheduled jobs as the HTTP service administers them: the timetable with its runs, the run
history, starting a run now, the basic statistics (what `service.routes.jobs` asks of them)."""

from __future__ import annotations

from typing import Any

from customers.config import Settings
from customers.db import AsyncConn
from jobs import history, stats
from jobs.runner import Run, ensure_known
from jobs.schedule import entries_for, jobs_by_name
from jobs.triggers import load_jobs_settings


class JobsAdmin:
    """The jobs of this installation's timetable; the scheduler settings are read on each call,
    like the scheduler reads them."""

    async def list_jobs(self, conn: AsyncConn, settings: Settings) -> dict[str, Any]:
        """Every job with its schedule, next fire time, last and current run, and the leader."""
        return await history.list_jobs(conn, entries_for(settings, load_jobs_settings()))

    async def run_history(self, conn: AsyncConn, job: str | None, limit: int) -> dict[str, Any]:
        """The latest runs, newest first (of `job` only when given; an unknown job is an error)."""
        return await history.history(conn, job, limit, set(jobs_by_name()))

    async def get_run(self, conn: AsyncConn, run_id: int) -> dict[str, Any]:
        """One run by id."""
        return await history.get_run(conn, run_id)

    async def begin_run(self, name: str, *, conninfo: str, settings: Settings) -> Run:
        """Lock job `name` and record a run of it started over HTTP; `execute` it to do the work."""
        job = ensure_known(name, jobs_by_name())
        run = await Run.begin(
            job,
            conninfo=conninfo,
            settings=settings,
            origin="http",
            history_days=load_jobs_settings().jobs_history_days,
        )
        assert run is not None  # only scheduled runs are skipped silently
        return run

    async def current_stats(self, conn: AsyncConn, fresh: bool) -> dict[str, Any]:
        """The last statistics snapshot, or statistics computed now when `fresh`."""
        return await stats.current(conn, fresh)
