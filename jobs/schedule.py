"""The timetable: every scheduled job, its default trigger, and the function it calls.

A default can be changed or switched off per job with the `jobs_schedule` setting, e.g.
`JOBS_SCHEDULE='{"brin-summarize": "every 5m", "search-migrate": "0 3 * * *", "import-cleanup": "off"}'`
or a `[jobs_schedule]` table in the settings file. Triggers are `every <n>s|m|h|d` (anchored at
midnight UTC, so `every 15m` fires at :00, :15, :30, :45 on every process), a 5-field cron
expression in `jobs_timezone`, or `off`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from customers.config import ConfigError, Settings
from jobs import imports, maintenance, search_index, stats
from jobs.runner import Job, RunContext
from jobs.triggers import JobsSettings, describe, parse_spec


async def brin_summarize(run: RunContext) -> dict[str, Any]:
    run.progress(f"summarising new page ranges of {maintenance.CUSTOMERS_BRIN_INDEX}")
    return await maintenance.brin_summarize(run.conn)


async def stats_refresh(run: RunContext) -> dict[str, Any]:
    run.progress("computing the statistics")
    return stats.summary(await stats.refresh(run.conn))


async def import_cleanup(run: RunContext) -> dict[str, Any]:
    run.progress("looking for leftovers of failed imports")
    return await imports.import_cleanup(run.conn, older_than=dt.timedelta(days=1))


async def search_consistency(run: RunContext) -> dict[str, Any]:
    run.progress("comparing the search index with PostgreSQL")
    return await search_index.consistency(run.settings)


async def search_migrate(run: RunContext) -> dict[str, Any]:
    run.progress("rebuilding the search index")
    return await search_index.migrate(run.settings, lambda done, total: run.progress("indexing customers", done, total))


TIMETABLE: tuple[Job, ...] = (
    #    name                  function             default        what for
    Job("brin-summarize", brin_summarize, "every 10m", "summarise new BRIN ranges of customers.id"),
    Job("stats-refresh", stats_refresh, "every 15m", "snapshot of the basic statistics (GET /stats)"),
    Job("import-cleanup", import_cleanup, "40 * * * *", "drop staging tables of failed imports older than a day"),
    Job(
        "search-consistency",
        search_consistency,
        "20 * * * *",
        "compare the search index with PostgreSQL, repair drift",
        needs_search=True,
    ),
    Job(
        "search-migrate", search_migrate, "30 2 * * *", "nightly chunked rebuild of the search index", needs_search=True
    ),
)


@dataclass(frozen=True)
class Entry:
    """A job as configured here: its trigger (None when off) and why it cannot run, if so."""

    job: Job
    spec: str
    trigger: BaseTrigger | None
    unavailable: str | None

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def active(self) -> bool:
        """Scheduled by the leader: switched on and runnable in this installation."""
        return self.trigger is not None and self.unavailable is None

    @property
    def schedule(self) -> str:
        return describe(self.trigger)


def jobs_by_name(timetable: tuple[Job, ...] = TIMETABLE) -> dict[str, Job]:
    """The jobs of `timetable` by name."""
    return {job.name: job for job in timetable}


def entries_for(settings: Settings, jobs_settings: JobsSettings, timetable: tuple[Job, ...] = TIMETABLE) -> list[Entry]:
    """Every job of the timetable with its configured trigger; unknown names are an error."""
    known = jobs_by_name(timetable)
    unknown = sorted(set(jobs_settings.jobs_schedule) - set(known))
    if unknown:
        raise ConfigError(f"setting jobs_schedule: unknown job {unknown[0]!r} (known: {', '.join(sorted(known))})")
    entries = []
    for job in timetable:
        spec = jobs_settings.jobs_schedule.get(job.name, job.default)
        trigger = parse_spec(spec, jobs_settings.jobs_timezone, name=f"setting jobs_schedule.{job.name}")
        entries.append(Entry(job, spec, trigger, job.available(settings)))
    return entries
