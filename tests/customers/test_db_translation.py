"""Driver errors translated in one place: `customers.db.translate` and `translated`, sync and async."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from customers import db
from customers.errors import DatabaseUnavailable, PhoneExists


def test_translated_turns_driver_errors_into_service_errors(conninfo: str, clean_db: None) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("INSERT INTO customers (phone) VALUES ('79120000001')")
        with pytest.raises(PhoneExists) as refused, db.translated:
            conn.execute("INSERT INTO customers (phone) VALUES ('79120000001')")
    assert isinstance(refused.value.__cause__, psycopg.errors.UniqueViolation)

    async def closed_connection() -> None:
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        await conn.close()
        async with db.translated:
            await conn.execute("SELECT 1")

    with pytest.raises(DatabaseUnavailable, match="the database is unavailable"):
        asyncio.run(closed_connection())


def test_other_errors_leave_unchanged() -> None:
    with pytest.raises(KeyError), db.translated:
        raise KeyError("not a driver error")
    error = psycopg.errors.DivisionByZero("division by zero")
    assert isinstance(error, db.DRIVER_ERRORS)  # handed to `translate` by the entry points
    assert db.translate(error) is error  # no service meaning: left to the caller as unexpected
