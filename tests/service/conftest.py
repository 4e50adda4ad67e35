"""Fixtures of the proof tests: a seeded database, the served OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.factories import add_customers


@pytest.fixture
def seeded(conninfo: str, clean_db: None) -> list[dict[str, Any]]:
    """Three customers on an empty database."""
    return add_customers(
        conninfo,
        [
            {"phone": phone, "email": f"person{i}@example.com", "profile": {"first_name": f"P{i}"}}
            for i, phone in enumerate(("79161110001", "79161110002", "79161110003"))
        ],
    )


@pytest.fixture
def count_customers(conninfo: str) -> Callable[[], int]:
    """How many customers the database holds, read directly."""

    def count() -> int:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM customers").fetchone()
        assert row is not None
        return int(row[0])

    return count


@pytest.fixture(scope="package", autouse=True)
def shipped_questionnaire_afterwards(conninfo: str) -> Iterator[None]:
    """The service's tests put questionnaires of their own in force; the packages tested after
    them find the shipped default in force again, as on a fresh database."""
    yield
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE questionnaire_versions")
