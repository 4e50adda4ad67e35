"""Fixtures of the proof tests: a seeded database, the served OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest


@pytest.fixture
def seeded(api: httpx.Client) -> list[dict[str, Any]]:
    """Three customers created through the API on an empty database."""
    made = []
    for i, phone in enumerate(("79161110001", "79161110002", "79161110003")):
        response = api.post(
            "/customers", json={"phone": phone, "email": f"person{i}@example.com", "profile": {"first_name": f"P{i}"}}
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    return made


@pytest.fixture
def count_customers(conninfo: str) -> Callable[[], int]:
    """How many customers the database holds, read directly."""

    def count() -> int:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM customers").fetchone()
        assert row is not None
        return int(row[0])

    return count
