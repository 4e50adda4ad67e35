"""The scheduler process: APScheduler firing the timetable, only while this process leads.

Any number of processes may run a `Scheduler` against one database. Each one tries the leader
lock at start and then every `jobs_leader_retry_seconds`; the one holding it adds the
timetable's jobs to its APScheduler, the others keep no jobs. Each fire time is a slot of the
trigger: the run claims it in `job_runs` (unique per job and slot) and takes the job's own lock,
so a slot never runs twice and a job never runs twice at once, even across a handover.
APScheduler's `max_instances=1` keeps a slow job from being started again by its next fire time;
`coalesce` with `misfire_grace_time` runs missed fire times once, late, when within the grace.
On becoming leader, the latest slot of each job is run at once if nobody ran it and it is
within the grace (the previous leader died just before or while it was due).
The scheduler reads the time from its `Clock` (the system clock unless a test moves it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from customers.config import Settings
from jobs.clock import SYSTEM_CLOCK, Clock
from jobs.leader import Lease
from jobs.runner import ACTIVE, Job, interrupt_own_runs, reap_orphans, run_job
from jobs.schedule import TIMETABLE, Entry, entries_for
from jobs.triggers import JobsSettings, last_fire, load_jobs_settings

log = logging.getLogger("customers.jobs")

# after the grace, interrupted runs get this long to record themselves
_CANCEL_WAIT_SECONDS = 5.0


class Scheduler:
    """One scheduler process's share of the work: elect, and fire the timetable when leader."""

    def __init__(
        self,
        settings: Settings,
        conninfo: str,
        *,
        jobs_settings: JobsSettings | None = None,
        timetable: tuple[Job, ...] = TIMETABLE,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.conninfo = conninfo
        self.jobs_settings = jobs_settings or load_jobs_settings()
        self.clock = clock
        self.entries: dict[str, Entry] = {e.name: e for e in entries_for(settings, self.jobs_settings, timetable)}
        grace = self.jobs_settings.jobs_misfire_grace_seconds
        self._aps = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(max_workers=max(2, len(self.entries)))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )
        self._lease = Lease(conninfo)
        self._stopping = threading.Event()
        self._elector: threading.Thread | None = None
        self._state = threading.Lock()
        self._inflight = 0
        self.is_leader = False
        self.became_leader: threading.Event = threading.Event()

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start electing (in a thread) and the APScheduler (with no jobs until leader)."""
        for entry in self.entries.values():
            if entry.trigger is None:
                log.info("job %s is off", entry.name)
            elif entry.unavailable:
                log.info("job %s is not scheduled: %s", entry.name, entry.unavailable)
        self._aps.start()
        self._elector = threading.Thread(target=self._elect, name="customers-scheduler-elector", daemon=True)
        self._elector.start()

    def shutdown(self, grace: float | None = None) -> dict[str, Any]:
        """Stop firing; let running jobs finish within `grace` seconds, then interrupt them.

        Returns what happened: how many runs finished in time and which were interrupted."""
        grace = self.jobs_settings.jobs_shutdown_grace_seconds if grace is None else grace
        self._stopping.set()
        if self._elector is not None:
            self._elector.join(timeout=30)
        if self._aps.running:
            self._aps.remove_all_jobs()
            self._aps.shutdown(wait=False)
        running = ACTIVE.ids()
        if running:
            log.info("waiting up to %.1f s for %d running job(s) to finish", grace, len(running))
        finished_in_time = self._wait_idle(grace)
        interrupted: list[int] = []
        if not finished_in_time:
            interrupted = ACTIVE.ids()
            log.warning("interrupting job run(s) %s", interrupted)
            ACTIVE.cancel_all()
            if not self._wait_idle(_CANCEL_WAIT_SECONDS):
                # a job ignoring cancellation: its row must not stay 'running'
                asyncio.run(interrupt_own_runs(self.conninfo, ACTIVE.ids()))
        self._lease.release()
        self.is_leader = False
        return {"finished": finished_in_time, "interrupted": interrupted, "stuck": self._inflight > 0}

    def _wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            with self._state:
                if self._inflight == 0:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    # -- election -----------------------------------------------------------------------------

    def _elect(self) -> None:
        interval = self.jobs_settings.jobs_leader_retry_seconds
        while not self._stopping.is_set():
            try:
                if self.is_leader:
                    if self._lease.held():
                        self._reap()
                    else:
                        self._demote("the leader lock was lost (connection to PostgreSQL gone)")
                elif self._lease.try_acquire():
                    self._promote()
            except Exception:  # the elector must outlive any single failure
                log.exception("scheduler election step failed")
                if not self.is_leader:
                    self._aps.remove_all_jobs()  # a promotion that failed half-way
            self._stopping.wait(interval)

    def _reap(self) -> None:
        assert self._lease.conn is not None
        for run_id, job in reap_orphans(self._lease.conn):
            log.warning("run %s of job %s was left running by a process that ended: marked interrupted", run_id, job)

    def _promote(self) -> None:
        if self._stopping.is_set():
            self._lease.release()
            return
        log.info("this process is now the scheduler leader")
        self._reap()
        conn = self._lease.conn
        assert conn is not None
        now = self.clock.now()
        grace = self.jobs_settings.jobs_misfire_grace_seconds
        for entry in self.entries.values():
            if not entry.active:
                continue
            assert entry.trigger is not None
            options: dict[str, Any] = {}
            missed = missed_fire_time(entry.trigger, now, grace, functools.partial(_slot_taken, conn, entry.name))
            if missed is not None:  # missed while there was no leader: run it once now
                options["next_run_time"] = self.clock.to_real(missed)
            self._aps.add_job(
                self._fire,
                self.clock.real_trigger(entry.trigger),
                args=(entry.name,),
                id=entry.name,
                name=entry.name,
                replace_existing=True,
                **options,
            )
        self.is_leader = True
        self.became_leader.set()

    def next_fire_times(self) -> dict[str, dt.datetime]:
        """The next fire time of each job this process fires, on its clock (none unless leader)."""
        return {
            job.id: self.clock.from_real(job.next_run_time)
            for job in self._aps.get_jobs()
            if job.next_run_time is not None
        }

    def _demote(self, reason: str) -> None:
        log.warning("no longer the scheduler leader: %s", reason)
        self.is_leader = False
        self.became_leader.clear()
        self._aps.remove_all_jobs()

    # -- firing -------------------------------------------------------------------------------

    def _fire(self, name: str) -> None:
        """Run one fire time of a job (in an APScheduler worker thread)."""
        if self._stopping.is_set() or not self.is_leader:
            return
        entry = self.entries[name]
        assert entry.trigger is not None
        grace = self.jobs_settings.jobs_misfire_grace_seconds
        now = self.clock.now()
        # the fire time being run: the trigger's latest at or before now (APScheduler runs a fire
        # time late only within the grace, so it is found within it)
        slot = last_fire(entry.trigger, now, horizon=grace + 60) or now.replace(microsecond=0)
        with self._state:
            self._inflight += 1
        try:
            asyncio.run(
                run_job(
                    entry.job,
                    conninfo=self.conninfo,
                    settings=self.settings,
                    origin="schedule",
                    slot=slot,
                    history_days=self.jobs_settings.jobs_history_days,
                )
            )
        except asyncio.CancelledError:
            pass  # interrupted at shutdown: the run recorded itself
        except Exception:  # e.g. PostgreSQL unreachable: log, the next fire time retries
            log.exception("job %s could not be started", name)
        finally:
            with self._state:
                self._inflight -= 1


def missed_fire_time(
    trigger: BaseTrigger, now: dt.datetime, grace: float, ran: Callable[[dt.datetime], bool]
) -> dt.datetime | None:
    """The fire time a process taking the lead runs at once: the trigger's latest at `now`, when
    it is within the grace and `ran(fire_time)` is false (the previous leader died just before
    or while it was due, or there was no leader)."""
    slot = last_fire(trigger, now, horizon=grace + 60)
    if slot is None or (now - slot).total_seconds() > grace or ran(slot):
        return None
    return slot


def _slot_taken(conn: psycopg.Connection[Any], job: str, slot: dt.datetime) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM job_runs WHERE job = %s AND scheduled_for >= %s)", (job, slot)
    ).fetchone()
    return bool(row and row[0])


def serve(
    settings: Settings,
    conninfo: str,
    *,
    jobs_settings: JobsSettings | None = None,
    timetable: tuple[Job, ...] = TIMETABLE,
) -> int:
    """Run a scheduler in the foreground until SIGTERM or SIGINT; the exit status."""
    scheduler = Scheduler(settings, conninfo, jobs_settings=jobs_settings, timetable=timetable)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.start()
    while not stop.wait(1):
        pass
    outcome = scheduler.shutdown()
    if outcome["stuck"]:
        log.error("a job did not stop; exiting without waiting for it")
        logging.shutdown()
        os._exit(1)
    return 0
