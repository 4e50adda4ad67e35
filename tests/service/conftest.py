"""Fixtures of the proof tests: a seeded database, the served OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
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
