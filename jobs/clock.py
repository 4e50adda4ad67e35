"""The time the scheduler goes by.

Every decision of a scheduler that depends on the time (which fire time a run is, which missed
fire time to run on taking the lead) reads it from a `Clock`. Production uses `SYSTEM_CLOCK`,
the system's UTC clock. A test can set a scheduler's clock to any moment (half past an hour,
say) instead of waiting for it: such a clock is the system clock moved by an offset, running on
at the real pace. APScheduler keeps waiting in real time, so a moved clock also moves the
triggers handed to APScheduler (`Clock.real_trigger`): a fire time means the same moment to both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from apscheduler.triggers.base import BaseTrigger


@dataclass(frozen=True)
class Clock:
    """The system's UTC clock moved by `offset` (none in production)."""

    offset: dt.timedelta = dt.timedelta(0)

    @classmethod
    def at(cls, moment: dt.datetime) -> Clock:
        """A clock that reads `moment` now and runs on from there."""
        return cls(moment - dt.datetime.now(dt.UTC))

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def to_real(self, moment: dt.datetime) -> dt.datetime:
        """The real time at which this clock reads `moment`."""
        return moment.astimezone(dt.UTC) - self.offset

    def from_real(self, moment: dt.datetime) -> dt.datetime:
        """What this clock reads at the real time `moment`."""
        return moment.astimezone(dt.UTC) + self.offset

    def real_trigger(self, trigger: BaseTrigger) -> BaseTrigger:
        """`trigger` as APScheduler must see it: firing at the real times at which this clock
        reads the trigger's fire times (the trigger itself when the clock is not moved)."""
        if not self.offset:
            return trigger
        return _MovedTrigger(trigger, self)


SYSTEM_CLOCK = Clock()


class _MovedTrigger(BaseTrigger):
    """A trigger whose fire times are read on a moved clock, given to APScheduler in real time."""

    __slots__ = ("clock", "trigger")

    def __init__(self, trigger: BaseTrigger, clock: Clock) -> None:
        self.trigger = trigger
        self.clock = clock

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
        previous = None if previous_fire_time is None else self.clock.from_real(previous_fire_time)
        upcoming: dt.datetime | None = self.trigger.get_next_fire_time(previous, self.clock.from_real(now))
        return None if upcoming is None else self.clock.to_real(upcoming)

    def __str__(self) -> str:
        return f"{self.trigger} (on a clock moved by {self.clock.offset})"
