"""Schedulers in this process, each on its own connections, against the suite's database."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from customers.config import Settings
from jobs import history
from jobs.runner import Job, RunContext
from jobs.schedule import TIMETABLE, plan
from jobs.scheduler import Scheduler
from tests.jobs.support import jobs_settings, wait_for


async def tick(run: RunContext) -> dict[str, Any]:
    cur = await run.conn.execute("SELECT pg_backend_pid()")
    row = await cur.fetchone()
    assert row is not None
    return {"backend": row[0]}


async def explode(run: RunContext) -> dict[str, Any]:
    await run.conn.execute("SELECT 1")
    raise RuntimeError("the disk is on fire")


async def slow(run: RunContext) -> dict[str, Any]:
    for step in range(5):
        run.progress("napping", step, 5)
        await run.conn.execute("SELECT pg_sleep(0.5)")
    return {"slept": 2.5}


TICK = Job("tick", tick, "every 1s", "test: records which backend ran it")
EXPLODE = Job("explode", explode, "every 1s", "test: always fails")
SLOW = Job("slow", slow, "every 1s", "test: takes 2.5 s, longer than its interval")


@pytest.fixture
def schedulers(clean_db: None) -> Iterator[list[Scheduler]]:
    started: list[Scheduler] = []
    yield started
    for scheduler in started:
        scheduler.shutdown(grace=5)


def start(
    schedulers: list[Scheduler],
    settings: Settings,
    conninfo: str,
    timetable: tuple[Job, ...],
    grace: int = 30,
    **schedule: str,
) -> Scheduler:
    scheduler = Scheduler(settings, conninfo, jobs_settings=jobs_settings(grace, **schedule), timetable=timetable)
    scheduler.start()
    schedulers.append(scheduler)
    return scheduler


def runs(conninfo: str, job: str | None = None) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.cursor(row_factory=dict_row)
        if job is None:
            return cur.execute("SELECT * FROM job_runs ORDER BY id").fetchall()
        return cur.execute("SELECT * FROM job_runs WHERE job = %s ORDER BY id", (job,)).fetchall()


def test_two_schedulers_run_each_fire_time_exactly_once(
    schedulers: list[Scheduler], settings: Settings, conninfo: str
) -> None:
    a = start(schedulers, settings, conninfo, (TICK,), tick="every 1s")
    b = start(schedulers, settings, conninfo, (TICK,), tick="every 1s")
    wait_for(lambda: a.is_leader or b.is_leader, 5)
    time.sleep(4.2)
    assert a.is_leader != b.is_leader, "exactly one scheduler leads"
    leader = a if a.is_leader else b
    follower = b if leader is a else a
    assert follower._aps.get_jobs() == []
    done = [r for r in runs(conninfo, "tick") if r["status"] != "running"]
    assert len(done) >= 3
    assert all(r["status"] == "succeeded" for r in done)
    slots = [r["scheduled_for"] for r in done]
    # fire times on whole seconds, in order, none run twice
    assert slots == sorted(set(slots))
    assert all(s.microsecond == 0 for s in slots)


def test_leader_stopping_hands_over(schedulers: list[Scheduler], settings: Settings, conninfo: str) -> None:
    a = start(schedulers, settings, conninfo, (TICK,), tick="every 1s")
    wait_for(lambda: a.is_leader, 5)
    b = start(schedulers, settings, conninfo, (TICK,), tick="every 1s")
    time.sleep(1.5)
    assert not b.is_leader
    a.shutdown(grace=2)
    wait_for(lambda: b.is_leader, 5)
    handed_over = time.monotonic()
    wait_for(lambda: any(r["started_at"].timestamp() > time.time() - 1 for r in runs(conninfo, "tick")), 5)
    assert time.monotonic() - handed_over < 3
    slots = [r["scheduled_for"] for r in runs(conninfo, "tick")]
    assert len(slots) == len(set(slots))


def test_failing_job_records_its_error_and_the_scheduler_goes_on(
    schedulers: list[Scheduler], settings: Settings, conninfo: str
) -> None:
    start(schedulers, settings, conninfo, (EXPLODE, TICK), explode="every 1s", tick="every 1s")
    wait_for(lambda: len([r for r in runs(conninfo, "explode") if r["status"] == "failed"]) >= 2, 8)
    failed = [r for r in runs(conninfo, "explode") if r["status"] == "failed"]
    assert "RuntimeError: the disk is on fire" in failed[0]["error"]
    assert failed[0]["finished_at"] is not None
    wait_for(lambda: len([r for r in runs(conninfo, "tick") if r["status"] == "succeeded"]) >= 2, 5)


def test_a_job_still_running_is_not_started_twice(
    schedulers: list[Scheduler], settings: Settings, conninfo: str
) -> None:
    start(schedulers, settings, conninfo, (SLOW,), slow="every 1s")
    entries = plan(settings, jobs_settings(slow="every 1s"), (SLOW,))

    async def listed() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return (await history.list_jobs(conn, entries))["items"][0]

    # while it runs, its progress is visible to `jobs list` and the HTTP admin
    running = wait_for(lambda: (item := asyncio.run(listed()))["running"] and item["running"]["progress"] and item, 5)
    assert running["running"]["progress"]["message"] == "napping" and running["running"]["status"] == "running"
    wait_for(lambda: len([r for r in runs(conninfo, "slow") if r["status"] == "succeeded"]) >= 2, 12)
    done = [r for r in runs(conninfo, "slow") if r["status"] == "succeeded"]
    for earlier, later in itertools.pairwise(done):
        assert later["started_at"] >= earlier["finished_at"], "runs of one job never overlap"
    assert done[0]["progress"] == {"message": "napping", "done": 4, "total": 5}


def test_a_fire_time_missed_without_leader_runs_once_on_takeover(
    schedulers: list[Scheduler], settings: Settings, conninfo: str
) -> None:
    # hourly slots: the last one (top of the hour) was run by nobody, no scheduler was up
    if time.time() % 3600 > 3590:
        time.sleep(3600 - time.time() % 3600 + 1)  # keep clear of the next slot
    before = dt.datetime.now(dt.UTC)
    late = start(schedulers, settings, conninfo, (TICK,), grace=1, tick="every 1h")
    wait_for(lambda: late.is_leader, 3)
    time.sleep(0.5)
    assert runs(conninfo, "tick") == [], "a slot older than the grace is not run"
    late.shutdown(grace=2)

    a = start(schedulers, settings, conninfo, (TICK,), grace=3600, tick="every 1h")
    wait_for(lambda: runs(conninfo, "tick"), 3)
    time.sleep(0.5)
    found = runs(conninfo, "tick")
    assert len(found) == 1, "run once, late"
    slot = found[0]["scheduled_for"]
    assert slot <= before and (before - slot).total_seconds() < 3600 and slot.minute == slot.second == 0
    # another scheduler taking over now finds the slot done and does not run it again
    a.shutdown(grace=2)
    b = start(schedulers, settings, conninfo, (TICK,), grace=3600, tick="every 1h")
    wait_for(lambda: b.is_leader, 3)
    time.sleep(0.5)
    assert [r["scheduled_for"] for r in runs(conninfo, "tick")] == [slot]


def test_shutdown_interrupts_a_run_that_outlasts_the_grace(
    schedulers: list[Scheduler], settings: Settings, conninfo: str
) -> None:
    a = start(schedulers, settings, conninfo, (SLOW,), slow="every 1s")
    wait_for(lambda: runs(conninfo, "slow"), 5)
    outcome = a.shutdown(grace=0.2)
    assert outcome["interrupted"] and not outcome["stuck"]
    rows = runs(conninfo, "slow")
    assert [r["status"] for r in rows] == ["interrupted"]
    assert rows[0]["finished_at"] is not None and "shutting down" in rows[0]["error"]


def test_shutdown_lets_a_run_finish_within_the_grace(
    schedulers: list[Scheduler], settings: Settings, conninfo: str
) -> None:
    a = start(schedulers, settings, conninfo, (SLOW,), slow="every 1s")
    wait_for(lambda: runs(conninfo, "slow"), 5)
    outcome = a.shutdown(grace=10)
    assert outcome == {"finished": True, "interrupted": [], "stuck": False}
    assert [r["status"] for r in runs(conninfo, "slow")] == ["succeeded"]


def test_the_shipped_timetable_lists_every_job() -> None:
    assert [job.name for job in TIMETABLE][:3] == ["brin-summarize", "stats-refresh", "import-cleanup"]
