"""Running one job and recording it: the run row, the job's advisory lock, progress, the outcome.

Every run, whoever starts it, goes through `Run.begin` then `Run.execute`:
1. a bookkeeping connection takes the job's session advisory lock (a job never runs twice at
   once, across processes) and inserts a `job_runs` row; a scheduled run also claims its slot,
   so a fire time is run at most once even if two processes both believe they lead;
2. the job runs on a connection of its own and reports progress;
3. the outcome (succeeded, failed with its error text, interrupted) is written on the
   bookkeeping connection, which then closes and so releases the lock.
A process that dies mid-run leaves a 'running' row whose lock is gone; `reap_orphans` marks such
rows interrupted (the leader at every check, every new run, and `jobs list`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from customers import metrics
from customers.config import Settings
from customers.db import AsyncConn
from customers.errors import Conflict, NotFound

log = logging.getLogger("customers.jobs")

Origin = Literal["schedule", "cli", "http"]
# first key of the two-int advisory locks of jobs ("jobs" in ASCII); the second is hashtext(name)
JOB_LOCK_SPACE = 0x6A6F6273
_ERROR_TEXT_LIMIT = 8000
_PROGRESS_FLUSH_SECONDS = 1.0

RUN_COLUMNS = (
    "id, job, origin, scheduled_for, status, started_at, finished_at, "
    "round(extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at)::numeric, 3)::float8 AS seconds, "
    "result, error, progress, host, pid"
)


class JobNotFound(NotFound):
    code = "JOB_NOT_FOUND"


class JobRunning(Conflict):
    code = "JOB_RUNNING"


class JobUnavailable(Conflict):
    """The job cannot run in this installation (e.g. search is off)."""

    code = "JOB_UNAVAILABLE"


class RunNotFound(NotFound):
    code = "JOB_RUN_NOT_FOUND"


class RunProgress:
    """What a running job reports: a message and optionally done/total counts."""

    def __init__(self, listener: Callable[[RunProgress], None] | None = None) -> None:
        self.message = ""
        self.done: int | None = None
        self.total: int | None = None
        self.version = 0
        self._listener = listener

    def __call__(self, message: str, done: int | None = None, total: int | None = None) -> None:
        self.message, self.done, self.total = message, done, total
        self.version += 1
        if self._listener is not None:
            self._listener(self)

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "done": self.done, "total": self.total}


@dataclass
class RunContext:
    """What a job function may use: its connection, the settings and a progress reporter."""

    conn: AsyncConn
    settings: Settings
    progress: RunProgress


@dataclass(frozen=True)
class Job:
    """A named maintenance job: the function that does it and its default schedule."""

    name: str
    run: Callable[[RunContext], Awaitable[dict[str, Any]]]
    default: str
    description: str
    needs_search: bool = False

    def available(self, settings: Settings) -> str | None:
        """None when the job can run here, else the reason it cannot."""
        if self.needs_search and not settings.search_enabled:
            return "search is off (search_enabled=false)"
        return None


class ActiveRuns:
    """Runs in progress in this process, so that a shutdown can interrupt them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}

    def add(self, run_id: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        with self._lock:
            self._runs[run_id] = (asyncio.get_running_loop(), task)

    def discard(self, run_id: int) -> None:
        with self._lock:
            self._runs.pop(run_id, None)

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._runs)

    def cancel_all(self) -> int:
        """Cancel every run in progress (each records itself as interrupted)."""
        with self._lock:
            runs = list(self._runs.values())
        for loop, task in runs:
            loop.call_soon_threadsafe(task.cancel)
        return len(runs)


ACTIVE = ActiveRuns()


def _error_text(exc: BaseException) -> str:
    head = f"{type(exc).__name__}: {str(exc).strip()}".strip()
    trace = "".join(traceback.format_exception(exc)[-6:])
    return (head + "\n\n" + trace)[:_ERROR_TEXT_LIMIT]


_INSERT_RUN = f"""
INSERT INTO job_runs (job, origin, scheduled_for, host, pid, backend_pid)
VALUES (%s, %s, %s, %s, %s, pg_backend_pid())
ON CONFLICT (job, scheduled_for) WHERE scheduled_for IS NOT NULL DO NOTHING
RETURNING {RUN_COLUMNS}"""
_FINISH_RUN = f"""
UPDATE job_runs SET status = %(status)s, finished_at = clock_timestamp(), result = %(result)s,
       error = %(error)s, progress = %(progress)s
 WHERE id = %(id)s
RETURNING {RUN_COLUMNS}"""
_RUNNING_ROW = f"SELECT {RUN_COLUMNS} FROM job_runs WHERE job = %s AND status = 'running' ORDER BY id DESC LIMIT 1"


@dataclass
class Run:
    """A run that has its lock and its row; `execute` does the work and records the outcome."""

    job: Job
    settings: Settings
    conninfo: str
    book: AsyncConn
    record: dict[str, Any]
    history_days: int = 90
    progress: RunProgress = field(default_factory=RunProgress)

    @property
    def id(self) -> int:
        return int(self.record["id"])

    @classmethod
    async def begin(
        cls,
        job: Job,
        *,
        conninfo: str,
        settings: Settings,
        origin: Origin,
        slot: dt.datetime | None = None,
        history_days: int = 90,
    ) -> Run | None:
        """Lock the job and record the run; None when a scheduled run's slot was already run
        or the job is running elsewhere. A manual run of a busy job raises JobRunning."""
        reason = job.available(settings)
        if reason is not None:
            raise JobUnavailable(f"job {job.name} cannot run: {reason}")
        book = await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, application_name=f"customers-job {job.name}"[:63]
        )
        try:
            cur = await book.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (JOB_LOCK_SPACE, job.name))
            locked = await cur.fetchone()
            if not (locked and locked[0]):
                if origin == "schedule":
                    log.info("job %s is still running elsewhere: this fire time is skipped", job.name)
                    await book.close()
                    return None
                rows = await book.cursor(row_factory=dict_row).execute(_RUNNING_ROW, (job.name,))
                running = await rows.fetchone()
                where = (
                    f" (run {running['id']} on {running['host']} pid {running['pid']} "
                    f"since {running['started_at']:%H:%M:%S})"
                    if running
                    else ""
                )
                raise JobRunning(f"job {job.name} is already running{where}", run=running and running["id"])
            # runs of processes that died are closed here too, in case no scheduler leads
            await reap_orphans_async(book)
            inserted = book.cursor(row_factory=dict_row)
            await inserted.execute(_INSERT_RUN, (job.name, origin, slot, socket.gethostname(), os.getpid()))
            record = await inserted.fetchone()
            if record is None:
                log.info("job %s: the fire time %s was already run", job.name, slot)
                await book.close()
                return None
        except BaseException:
            await book.close()
            raise
        return cls(job, settings, conninfo, book, record, history_days)

    async def execute(self, on_progress: Callable[[RunProgress], None] | None = None) -> dict[str, Any]:
        """Run the job and record its outcome; returns the finished run record."""
        self.progress = RunProgress(on_progress)
        started = time.monotonic()
        ACTIVE.add(self.id)
        status, result, error = "failed", None, None
        conn: AsyncConn | None = None
        done = asyncio.Event()
        flusher = asyncio.create_task(self._flush_progress(done))
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, application_name=f"customers-job {self.job.name} run"[:63]
            )
            result = await self.job.run(RunContext(conn, self.settings, self.progress))
            status = "succeeded"
        except asyncio.CancelledError:
            status, error = "interrupted", "interrupted: the process running it was shutting down"
            if conn is not None and not conn.closed:
                with contextlib.suppress(psycopg.Error):
                    await conn.cancel_safe(timeout=2)  # stop the statement on the server too
            raise
        except Exception as exc:  # noqa: BLE001 - a job's failure is recorded, never propagated to the scheduler
            status, error = "failed", _error_text(exc)
            log.error("job %s (run %s) failed: %s", self.job.name, self.id, error.splitlines()[0])
        finally:
            done.set()  # the flusher ends between two writes: the bookkeeping connection is free
            await asyncio.gather(flusher, return_exceptions=True)
            if conn is not None:
                await conn.close()
            metrics.JOB_RUNS.labels(self.job.name, status).inc()
            metrics.JOB_DURATION.labels(self.job.name).observe(time.monotonic() - started)
            try:
                self.record = await self._finish(status, result, error)
            finally:
                ACTIVE.discard(self.id)
                await self.book.close()
        if status == "succeeded":
            log.info("job %s (run %s) succeeded: %s", self.job.name, self.id, result)
        return self.record

    async def _finish(self, status: str, result: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
        cur = self.book.cursor(row_factory=dict_row)
        params = {
            "status": status,
            "result": Jsonb(result) if result is not None else None,
            "error": error,
            "progress": Jsonb(self.progress.to_dict()) if self.progress.version else None,
            "id": self.id,
        }
        await cur.execute(_FINISH_RUN, params)
        row = await cur.fetchone()
        await self.book.execute(
            "DELETE FROM job_runs WHERE job = %s AND started_at < now() - make_interval(days => %s)",
            (self.job.name, self.history_days),
        )
        assert row is not None
        return row

    async def _flush_progress(self, done: asyncio.Event) -> None:
        """Keep the row's progress current (for `jobs list` and the HTTP admin)."""
        written = 0
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), _PROGRESS_FLUSH_SECONDS)
                return
            except TimeoutError:
                pass
            if self.progress.version != written:
                written = self.progress.version
                await self.book.execute(
                    "UPDATE job_runs SET progress = %s WHERE id = %s", (Jsonb(self.progress.to_dict()), self.id)
                )


async def run_job(
    job: Job,
    *,
    conninfo: str,
    settings: Settings,
    origin: Origin,
    slot: dt.datetime | None = None,
    history_days: int = 90,
    on_progress: Callable[[RunProgress], None] | None = None,
) -> dict[str, Any] | None:
    """Begin and execute one run; None when a scheduled run was skipped."""
    run = await Run.begin(
        job, conninfo=conninfo, settings=settings, origin=origin, slot=slot, history_days=history_days
    )
    if run is None:
        return None
    return await run.execute(on_progress)


_REAP = """
UPDATE job_runs r
   SET status = 'interrupted', finished_at = clock_timestamp(),
       error = coalesce(error, 'interrupted: the process running it ended (host ' || host || ', pid ' || pid || ')')
 WHERE status = 'running'
   AND NOT EXISTS (
        SELECT 1 FROM pg_locks l
         WHERE l.locktype = 'advisory' AND l.granted AND l.pid = r.backend_pid
           AND l.classid = %s::oid AND l.objid = hashtext(r.job)::oid AND l.objsubid = 2)
RETURNING id, job"""


def reap_orphans(conn: psycopg.Connection[Any]) -> list[tuple[int, str]]:
    """Mark 'running' rows whose process is gone (its job lock was released) as interrupted."""
    return [(row[0], row[1]) for row in conn.execute(_REAP, (JOB_LOCK_SPACE,)).fetchall()]


async def reap_orphans_async(conn: AsyncConn) -> list[tuple[int, str]]:
    """`reap_orphans` on an async connection."""
    cur = await conn.execute(_REAP, (JOB_LOCK_SPACE,))
    return [(row[0], row[1]) for row in await cur.fetchall()]


async def interrupt_own_runs(conninfo: str, run_ids: list[int]) -> int:
    """Last resort at shutdown: mark this process's unfinished runs interrupted."""
    if not run_ids:
        return 0
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cur = await conn.execute(
            "UPDATE job_runs SET status = 'interrupted', finished_at = clock_timestamp(), "
            "error = 'interrupted: the process running it was shutting down' "
            "WHERE id = ANY(%s) AND status = 'running'",
            (run_ids,),
        )
        return cur.rowcount


def ensure_known(name: str, jobs: dict[str, Job]) -> Job:
    """The job called `name`, or JobNotFound listing the known names."""
    try:
        return jobs[name]
    except KeyError:
        raise JobNotFound(f"no job named {name!r} (known: {', '.join(sorted(jobs))})") from None
