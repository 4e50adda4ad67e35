"""Customers for the admin page's tests and screenshots, made through the store (tests.factories):
a small, varied population of a Russian retail chain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tests.factories import add_customers

FIRST = ["Анна", "Иван", "Мария", "Пётр", "Елена", "Сергей", "Ольга", "Дмитрий", "Наталья", "Алексей"]
LAST = ["Иванова", "Петров", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева", "Новиков", "Морозова", "Волков"]
CITIES = ["Москва", "Самара", "Пермь", "Томск"]  # and Казань, every third customer
INTERESTS = ["sport", "travel", "cooking", "books", "music", "cinema"]


def population(count: int = 40) -> list[dict[str, Any]]:
    """`count` customers; customer n (from 0) has phone 7916111{n:04d}. Every third is in
    Казань, every second is female, every fourth has children_count n % 4, every fifth is
    blocked, every other one has an email."""
    today = dt.date.today()
    people = []
    for n in range(count):
        profile: dict[str, Any] = {
            "first_name": FIRST[n % len(FIRST)],
            "last_name": LAST[(n * 3) % len(LAST)],
            "city": "Казань" if n % 3 == 0 else CITIES[n % len(CITIES)],
            "gender": "female" if n % 2 == 0 else "male",
            "birth_date": (dt.date(1960, 1, 1) + dt.timedelta(days=397 * n)).isoformat(),
            "interests": [INTERESTS[n % len(INTERESTS)], INTERESTS[(n + 2) % len(INTERESTS)]],
        }
        if n % 4 == 0:
            profile["children_count"] = n % 4
        person: dict[str, Any] = {
            "phone": f"7916111{n:04d}",
            "profile": profile,
            "meta": {"registration_channel": ["store", "web", "app"][n % 3]},
            "created": (today - dt.timedelta(days=n * 2)).isoformat(),
            "blocked": n % 5 == 4,
            "loyalty_enabled": n % 7 != 0,
        }
        if n % 2 == 0:
            person["email"] = f"customer{n}@example.ru"
            person["email_confirmed"] = n % 4 == 0
        people.append(person)
    return people


Result = TypeVar("Result")


def off_loop(call: Callable[..., Result], *args: Any) -> Result:
    """Run a helper that starts an event loop of its own (the factories do) on another thread:
    Playwright's synchronous API keeps a loop running in the test's thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args).result()


def seed(conninfo: str, count: int = 40) -> list[dict[str, Any]]:
    """Store the population; the records as stored."""
    return off_loop(add_customers, conninfo, population(count))


def add(conninfo: str, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store these customers through the store; the records as stored."""
    return off_loop(add_customers, conninfo, customers)
