"""Schedulers in this process, each on its own connections, against the suite's database."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from apscheduler.triggers.interval import IntervalTrigger
from psycopg.rows import dict_row

from customers.config import Settings
from jobs import history
from jobs.clock import SYSTEM_CLOCK, Clock
from jobs.runner import Job, RunContext
from jobs.schedule import TIMETABLE, entries_for
from jobs.scheduler import Scheduler, missed_fire_time
from jobs.triggers import EPOCH
from tests.helpers import wait_for
from tests.jobs.support import jobs_settings

# the moment the clock of the missed-fire-time test reads: half past an hour, so that the last
# hourly fire time is half an hour old and the next one half an hour away
HALF_PAST = dt.datetime(2026, 11, 26, 10, 30, tzinfo=dt.UTC)
TOP_OF_THE_HOUR = HALF_PAST.replace(minute=0)
NEXT_HOUR = TOP_OF_THE_HOUR + dt.timedelta(hours=1)


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
    clock: Clock = SYSTEM_CLOCK,
    **schedule: str,
) -> Scheduler:
    scheduler = Scheduler(
        settings, conninfo, jobs_settings=jobs_settings(grace, **schedule), timetable=timetable, clock=clock
    )
    scheduler.start()
    schedulers.append(scheduler)
    return scheduler


def runs(conninfo: str, job: str | None = None) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.cursor(row_factory=dict_row)
        if job is None:
            return cur.execute("SELECT * FROM job_runs ORDER BY id").fetchall()
        return cur.execute("SELECT * FROM job_runs WHERE job = %s ORDER BY id", (job,)).fetchall()


def finished(conninfo: str, job: str) -> list[dict[str, Any]]:
    return [r for r in runs(conninfo, job) if r["status"] != "running"]


def election_attempts(scheduler: Scheduler) -> Callable[[], int]:
    """How many times `scheduler` has tried to take the leader lock so far (counted from now)."""
    lease = scheduler._lease
    try_acquire = lease.try_acquire
    attempts: list[bool] = []

    def counted() -> bool:
        took = try_acquire()
        attempts.append(took)
        return took

    lease.try_acquire = counted  # type: ignore[method-assign]  # counting the elector's attempts
    return lambda: len(attempts)


def test_two_schedulers_run_each_fire_time_exactly_once(
    schedulers: list[Scheduler], settings: Settings, conninfo: str
) -> None:
    a = start(schedulers, settings, conninfo, (TICK,), tick="every 1s")
    b = start(schedulers, settings, conninfo, (TICK,), tick="every 1s")
    wait_for(lambda: a.is_leader or b.is_leader, 5)
    wait_for(lambda: len(finished(conninfo, "tick")) >= 3, 10)
    done = finished(conninfo, "tick")
    assert a.is_leader != b.is_leader, "exactly one scheduler leads"
    leader = a if a.is_leader else b
    follower = b if leader is a else a
    assert follower.next_fire_times() == {}
    assert list(leader.next_fire_times()) == ["tick"]
    assert all(r["status"] == "succeeded" for r in done)
    slots = [r["scheduled_for"] for r in done]
    # fire times on whole seconds, in order, none run twice
    assert slots == sorted(set(slots))
    assert all(s.microsecond == 0 for s in slots)


def test_leader_stopping_hands_over(schedulers: list[Scheduler], settings: Settings, conninfo: str) -> None:
    a = start(schedulers, settings, conninfo, (TICK,), tick="every 1s")
    wait_for(lambda: a.is_leader, 5)
    b = Scheduler(settings, conninfo, jobs_settings=jobs_settings(tick="every 1s"), timetable=(TICK,))
    attempts = election_attempts(b)
    b.start()
    schedulers.append(b)
    wait_for(lambda: attempts() >= 3, 5)  # b has tried more than once while a leads
    assert not b.is_leader
    a.shutdown(grace=2)
    before = {r["id"] for r in runs(conninfo, "tick")}
    wait_for(lambda: b.is_leader, 5)
    # the new leader fires the timetable at once: a new fire time runs within three seconds
    wait_for(lambda: {r["id"] for r in runs(conninfo, "tick")} - before, 3)
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
    entries = entries_for(settings, jobs_settings(slow="every 1s"), (SLOW,))

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
    # hourly slots, the clock at half past: the last one (the top of the hour) was run by nobody,
    # no scheduler was up; the next one is half an hour away, so nothing else fires meanwhile
    clock = Clock.at(HALF_PAST)
    late = start(schedulers, settings, conninfo, (TICK,), grace=1, clock=clock, tick="every 1h")
    wait_for(lambda: late.is_leader, 3)
    assert late.next_fire_times() == {"tick": NEXT_HOUR}, "a slot older than the grace is not run"
    late.shutdown(grace=2)
    assert runs(conninfo, "tick") == []

    a = start(schedulers, settings, conninfo, (TICK,), grace=3600, clock=clock, tick="every 1h")
    found = wait_for(lambda: finished(conninfo, "tick"), 5)
    assert [r["scheduled_for"] for r in found] == [TOP_OF_THE_HOUR], "run once, late"
    assert a.next_fire_times() == {"tick": NEXT_HOUR}
    assert runs(conninfo, "tick") == found
    # another scheduler taking over now finds the slot done and does not run it again
    a.shutdown(grace=2)
    b = start(schedulers, settings, conninfo, (TICK,), grace=3600, clock=clock, tick="every 1h")
    wait_for(lambda: b.is_leader, 3)
    assert b.next_fire_times() == {"tick": NEXT_HOUR}
    b.shutdown(grace=2)
    assert [r["scheduled_for"] for r in runs(conninfo, "tick")] == [TOP_OF_THE_HOUR]


@pytest.mark.parametrize(
    ("grace", "ran", "expected"),
    [
        (3600, set(), TOP_OF_THE_HOUR),  # missed, within the grace: run now
        (1, set(), None),  # older than the grace
        (3600, {TOP_OF_THE_HOUR}, None),  # another leader ran it
    ],
)
def test_the_fire_time_a_new_leader_runs_at_once(
    grace: int, ran: set[dt.datetime], expected: dt.datetime | None
) -> None:
    hourly = IntervalTrigger(hours=1, start_date=EPOCH, timezone=dt.UTC)
    assert missed_fire_time(hourly, HALF_PAST, grace, ran.__contains__) == expected


def test_a_moved_clock_fires_at_the_real_times_it_reads() -> None:
    clock = Clock.at(HALF_PAST)
    hourly = IntervalTrigger(hours=1, start_date=EPOCH, timezone=dt.UTC)
    real = clock.real_trigger(hourly)
    upcoming = real.get_next_fire_time(None, clock.to_real(HALF_PAST))
    assert upcoming is not None and clock.from_real(upcoming) == NEXT_HOUR
    after = real.get_next_fire_time(upcoming, upcoming + dt.timedelta(microseconds=1))
    assert after is not None and clock.from_real(after) == NEXT_HOUR + dt.timedelta(hours=1)
    assert SYSTEM_CLOCK.real_trigger(hourly) is hourly


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
