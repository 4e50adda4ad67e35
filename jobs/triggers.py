"""When jobs run: schedule specs (`every 10m`, a cron expression, `off`), their settings, and
the fire-time arithmetic shared by every scheduler process.

Interval triggers are anchored at a fixed epoch, so every process (and `customers jobs list`)
computes the same fire times: a trigger's slot is a property of the clock, not of the process
that happens to be the leader. The arithmetic never reads the clock itself: the caller gives
`now` (see `jobs.clock`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import Field, field_validator

from customers.config import ConfigError, ProjectSettings

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
OFF = frozenset({"off", "disabled", "never"})
_EVERY = re.compile(r"^every\s+(\d+)\s*(s|sec|m|min|h|d)$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


class JobsSettings(ProjectSettings):
    """Scheduler settings, read like the service's (environment, then the settings file)."""

    # job name → "every 10m" | "<cron expression>" | "off"; unnamed jobs keep their default
    jobs_schedule: dict[str, str] = Field(default_factory=dict)
    jobs_timezone: str = "UTC"
    # a fire time missed (process busy, no leader for a while) still runs, once, within this
    jobs_misfire_grace_seconds: int = Field(default=300, ge=1)
    # followers try to become leader this often; the leader checks its lock as often
    jobs_leader_retry_seconds: float = Field(default=10.0, gt=0, le=15)
    # on SIGTERM running jobs get this long to finish before they are interrupted
    jobs_shutdown_grace_seconds: float = Field(default=25.0, ge=0)
    # runs older than this are pruned from the history
    jobs_history_days: int = Field(default=90, ge=1)

    @field_validator("jobs_timezone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Moscow)") from None
        return value


def load_jobs_settings(**overrides: Any) -> JobsSettings:
    """Read the scheduler settings, failing with one line that names the bad variable."""
    return JobsSettings.load(**overrides)


def parse_spec(spec: str, timezone: str = "UTC", *, name: str = "schedule") -> BaseTrigger | None:
    """`every 10m` → an epoch-anchored interval, `off` → None, anything else a 5-field cron."""
    text = " ".join(spec.strip().lower().split())
    if text in OFF:
        return None
    match = _EVERY.match(text)
    if match:
        seconds = int(match[1]) * _UNITS[match[2]]
        if seconds < 1:
            raise ConfigError(f"{name}: {spec!r} is not a positive interval")
        return IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=dt.UTC)
    try:
        return CronTrigger.from_crontab(spec.strip(), timezone=ZoneInfo(timezone))
    except ValueError as exc:
        raise ConfigError(
            f"{name}: {spec!r} is neither 'off', 'every <n>s|m|h|d' nor a 5-field cron expression ({exc})"
        ) from None


def describe(trigger: BaseTrigger | None) -> str:
    """A short human form of a trigger."""
    if trigger is None:
        return "off"
    if isinstance(trigger, IntervalTrigger):
        seconds = int(trigger.interval.total_seconds())
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                return f"every {seconds // size}{unit}"
        return f"every {seconds}s"
    if isinstance(trigger, CronTrigger):
        fields = {f.name: str(f) for f in trigger.fields}
        return " ".join(fields[n] for n in ("minute", "hour", "day", "month", "day_of_week")) + f" ({trigger.timezone})"
    return str(trigger)


def next_fire(trigger: BaseTrigger, now: dt.datetime) -> dt.datetime | None:
    """The next fire time at or after `now`."""
    upcoming: dt.datetime | None = trigger.get_next_fire_time(None, now)
    return upcoming


def last_fire(trigger: BaseTrigger, now: dt.datetime, horizon: float = 86400) -> dt.datetime | None:
    """The latest fire time at or before `now` (None when there is none within `horizon` s)."""
    if isinstance(trigger, IntervalTrigger):
        step: dt.timedelta = trigger.interval
        start: dt.datetime = trigger.start_date
        return start + step * ((now - start) // step)
    found: dt.datetime | None = None
    candidate = trigger.get_next_fire_time(None, now - dt.timedelta(seconds=horizon))
    while candidate is not None and candidate <= now:
        found = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + dt.timedelta(microseconds=1))
    return found
