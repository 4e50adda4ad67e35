"""The customer store: its change notification (after commit, never failing the write) and the
rule of lookups by phone."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from customers import store
from customers.errors import ValidationFailed
from customers.models import CustomerCreate, CustomerUpdate, create_defaults
from customers.questionnaire import Questionnaire
from tests.helpers import CREATE_DEFAULTS


def test_listeners_see_committed_writes_and_cannot_fail_them(conninfo: str, clean_db: None) -> None:
    seen: list[tuple[list[int], list[int]]] = []

    async def record(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        seen.append(([row["id"] for row in upserted], deleted))

    async def broken(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        raise ConnectionError("search index unreachable")

    async def scenario() -> None:
        q = Questionnaire.default()
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            created = await store.create_customer(conn, CustomerCreate(phone="79120001000"), q, "RU")
            cid = created["id"]
            await store.update_customer(conn, cid, CustomerUpdate(profile={"city": "Казань"}), q)
            await store.set_blocked(conn, cid, True)
            await store.change_email(conn, cid, "a@example.com")
            await store.activate_email(conn, cid)
            await store.delete_customer(conn, cid)
            assert await store.get_customer(conn, cid) is None

    unsubscribe = [store.on_change(record), store.on_change(broken)]
    try:
        asyncio.run(scenario())
    finally:
        for fn in unsubscribe:
            fn()
    ids = [s[0] for s in seen]
    assert len(seen) == 6
    assert all(len(i) == 1 for i in ids[:5]) and len({i[0] for i in ids[:5]}) == 1
    assert seen[5] == ([], [ids[0][0]])


def _recording(stored: dict[str, str]) -> tuple[list[str], Any]:
    """A lookup by phone over `stored` that records the phones it was asked for."""
    asked: list[str] = []

    async def fetch(phone: str) -> str | None:
        asked.append(phone)
        return stored.get(phone)

    return asked, fetch


@pytest.mark.parametrize(
    ("given", "found", "asked"),
    [
        # stored digits as given: found without parsing
        ("79161234567", "ru", ["79161234567"]),
        ("4915123456789", "de", ["4915123456789"]),  # would not parse as a Russian number
        # digits that are not a stored phone: then the normalised number
        ("89161234567", "ru", ["89161234567", "79161234567"]),
        ("9161234567", "ru", ["9161234567", "79161234567"]),
        # a human format: the normalised number only
        ("+7 (916) 123-45-67", "ru", ["79161234567"]),
        # digits that normalise to themselves are asked for once
        ("79161230000", None, ["79161230000"]),
    ],
)
def test_phone_lookup_rule(given: str, found: str | None, asked: list[str]) -> None:
    calls, fetch = _recording({"79161234567": "ru", "4915123456789": "de"})
    assert asyncio.run(store.lookup_by_phone(given, "RU", fetch)) == found
    assert calls == asked


@pytest.mark.parametrize(("given", "asked"), [("123", ["123"]), ("not a phone", [])])
def test_phone_lookup_of_no_phone_is_a_field_error(given: str, asked: list[str]) -> None:
    calls, fetch = _recording({})
    with pytest.raises(ValidationFailed) as refused:
        asyncio.run(store.lookup_by_phone(given, "RU", fetch))
    assert [(e.field, e.code) for e in refused.value.errors] == [("phone", "INVALID_FORMAT")]
    assert calls == asked


def test_one_set_of_create_defaults_in_the_model_the_store_and_the_table(
    conninfo: str, conn: psycopg.Connection[Any]
) -> None:
    assert create_defaults() == CREATE_DEFAULTS
    # the store writes them
    created = asyncio.run(_create_phone_alone(conninfo))
    assert {name: created[name] for name in CREATE_DEFAULTS} == CREATE_DEFAULTS
    assert created["email"] is None and created["source_id"] is None
    # and the table's column defaults agree (a writer naming only the phone gets the same)
    columns = ", ".join(CREATE_DEFAULTS)
    row = conn.execute(f"INSERT INTO customers (phone) VALUES ('79120001001') RETURNING {columns}").fetchone()
    assert row is not None
    assert dict(zip(CREATE_DEFAULTS, row, strict=True)) == CREATE_DEFAULTS


async def _create_phone_alone(conninfo: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        return await store.create_customer(conn, CustomerCreate(phone="79120001000"), Questionnaire.default(), "RU")
