"""Reading the jobs' state: the timetable with next and last runs, the run history, the leader."""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg.rows import dict_row

from customers.db import AsyncConn
from jobs.clock import SYSTEM_CLOCK
from jobs.leader import LEADER_LOCK, LEADER_QUERY
from jobs.runner import RUN_COLUMNS, JobNotFound, RunNotFound, reap_orphans_async
from jobs.schedule import Entry
from jobs.triggers import next_fire

_LAST_RUNS = f"""
SELECT DISTINCT ON (job) {RUN_COLUMNS}
  FROM job_runs WHERE job = ANY(%s) ORDER BY job, started_at DESC, id DESC"""
_LAST_FINISHED = f"""
SELECT DISTINCT ON (job) {RUN_COLUMNS}
  FROM job_runs WHERE job = ANY(%s) AND status <> 'running' ORDER BY job, started_at DESC, id DESC"""


async def leader(conn: AsyncConn) -> dict[str, Any] | None:
    """The process holding the scheduler lock now, if any."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(LEADER_QUERY, {"key": LEADER_LOCK})
    return await cur.fetchone()


async def list_jobs(conn: AsyncConn, entries: list[Entry], now: dt.datetime | None = None) -> dict[str, Any]:
    """Every job: schedule, next fire time, the last finished run and the one running now."""
    now = now or SYSTEM_CLOCK.now()
    await reap_orphans_async(conn)  # a run whose process died shows as interrupted, leader or not
    names = [e.name for e in entries]
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(_LAST_FINISHED, (names,))
    finished = {r["job"]: r for r in await cur.fetchall()}
    await cur.execute(_LAST_RUNS, (names,))
    latest = {r["job"]: r for r in await cur.fetchall()}
    items = []
    for entry in entries:
        current = latest.get(entry.name)
        items.append(
            {
                "name": entry.name,
                "description": entry.job.description,
                "schedule": entry.schedule,
                "scheduled": entry.active,
                "unavailable": entry.unavailable,
                "next_run": next_fire(entry.trigger, now) if entry.active and entry.trigger else None,
                "last_run": finished.get(entry.name),
                "running": current if current and current["status"] == "running" else None,
            }
        )
    return {"leader": await leader(conn), "count": len(items), "items": items}


async def history(
    conn: AsyncConn, job: str | None = None, limit: int = 50, known: set[str] | None = None
) -> dict[str, Any]:
    """The latest runs, newest first (of one job when `job` is given)."""
    if job is not None and known is not None and job not in known:
        raise JobNotFound(f"no job named {job!r} (known: {', '.join(sorted(known))})")
    cur = conn.cursor(row_factory=dict_row)
    if job is None:
        await cur.execute(f"SELECT {RUN_COLUMNS} FROM job_runs ORDER BY started_at DESC, id DESC LIMIT %s", (limit,))
    else:
        await cur.execute(
            f"SELECT {RUN_COLUMNS} FROM job_runs WHERE job = %s ORDER BY started_at DESC, id DESC LIMIT %s",
            (job, limit),
        )
    items = await cur.fetchall()
    return {"count": len(items), "items": items}


async def get_run(conn: AsyncConn, run_id: int) -> dict[str, Any]:
    """One run by id."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(f"SELECT {RUN_COLUMNS} FROM job_runs WHERE id = %s", (run_id,))
    row = await cur.fetchone()
    if row is None:
        raise RunNotFound(f"job run {run_id} does not exist")
    return row
