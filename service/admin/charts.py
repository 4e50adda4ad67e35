"""Statistics charts as server-rendered SVG: the geometry is computed here, the template draws it
(numbers and dates only, escaped like every value)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

WIDTH = 900
HEIGHT = 220
LEFT = 44  # room for the y-axis labels
BOTTOM = 24  # room for the x-axis labels
TOP = 8
RIGHT = 24  # room for the last x-axis label


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class BarChart:
    """Vertical bars over time, with a few labelled ticks on both axes."""

    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    baseline: float
    left: int
    total: int


def _nice_max(value: int) -> int:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def per_day_chart(points: list[dict[str, Any]]) -> BarChart:
    """Customers created per day (`[{date, count}]`, oldest first)."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    top = _nice_max(max((int(p["count"]) for p in points), default=0))
    slot = plot_width / max(len(points), 1)
    bars = []
    x_ticks = []
    for i, point in enumerate(points):
        count = int(point["count"])
        height = plot_height * count / top
        x = LEFT + i * slot
        bars.append(
            Bar(
                round(x + slot * 0.1, 2),
                round(baseline - height, 2),
                round(slot * 0.8, 2),
                round(height, 2),
                str(point["date"]),
                count,
            )
        )
        if i % 15 == 0 or i == len(points) - 1:
            x_ticks.append(Tick(round(x + slot / 2, 2), str(point["date"])[5:]))
    steps = (0, 0.5, 1) if top % 2 == 0 else (0, 1)
    y_ticks = [Tick(round(baseline - plot_height * f, 2), f"{round(top * f):,}") for f in steps]
    return BarChart(WIDTH, HEIGHT, bars, x_ticks, y_ticks, baseline, LEFT, sum(int(p["count"]) for p in points))


@dataclass(frozen=True)
class Share:
    label: str
    count: int
    total: int

    @property
    def percent(self) -> float:
        return 100 * self.count / self.total if self.total else 0.0


def totals_shares(customers: dict[str, Any]) -> list[Share]:
    """Blocked, with email, confirmed email, loyalty enabled: each as a share of all customers."""
    total = int(customers.get("total", 0))
    names = (
        ("blocked", "Blocked"),
        ("with_email", "With email"),
        ("confirmed_email", "Confirmed email"),
        ("loyalty_enabled", "Loyalty enabled"),
    )
    return [Share(label, int(customers.get(key, 0)), total) for key, label in names]
