"""Customers for tests, made the way the service makes them: through `customers.customer_writes`.

- `new_customer` / `new_customers` (async, on the caller's connection) and `add_customer` /
  `add_customers` (the same for synchronous tests, on a connection of their own) call
  `customer_writes.create_customer` with the questionnaire in force, so a customer is validated, stored
  and announced to the write listeners (the search index copy) exactly as a REST or JSON-RPC
  create would. A field the store sets through an operation of its own (`blocked`) is set
  with that operation afterwards.
- `add_customers_bulk` writes thousands of customers in one COPY, the way a bulk import does.

Tests that need rows the store would refuse (legacy values that no longer fit the
questionnaire) write them with SQL of their own and say so: those are not factories.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from customers import customer_writes, settings_store, store
from customers.contacts import normalize_email, normalize_phone
from customers.db import AsyncConn
from customers.models import CustomerCreate
from customers.questionnaire import Questionnaire

REGION = "RU"
# phones handed out when a test names none: a range the tests' own phones stay out of
_SPARE_PHONES = (f"7955{n:07d}" for n in itertools.count(1))

CustomerSpec = Mapping[str, Any] | CustomerCreate


async def questionnaire_in_force(conn: AsyncConn) -> Questionnaire:
    """The questionnaire the service validates with now."""
    return await settings_store.QuestionnaireCache().get(conn)


async def new_customer(conn: AsyncConn, **fields: Any) -> dict[str, Any]:
    """Create one customer from `fields` (those of a REST create, plus `blocked`); its record."""
    [row] = await new_customers(conn, [fields])
    return row


async def new_customers(conn: AsyncConn, customers: Iterable[CustomerSpec]) -> list[dict[str, Any]]:
    """Create each customer in turn, as separate creates of the service would; their records."""
    questionnaire = await questionnaire_in_force(conn)
    rows = []
    for spec in customers:
        data, blocked = _create_request(spec)
        row = await customer_writes.create_customer(conn, data, questionnaire, REGION)
        if blocked:
            row = await store.set_blocked(conn, row["id"], True)
        rows.append(row)
    return rows


def add_customer(conninfo: str, **fields: Any) -> dict[str, Any]:
    """`new_customer` for a synchronous test."""
    [row] = add_customers(conninfo, [fields])
    return row


def add_customers(conninfo: str, customers: Iterable[CustomerSpec]) -> list[dict[str, Any]]:
    """`new_customers` for a synchronous test."""

    async def create() -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await new_customers(conn, customers)

    return asyncio.run(create())


def numbered_phones(count: int, *, start: int = 0, first: int = 79000000001) -> Iterator[str]:
    """`count` distinct phones in digits: `first + start`, `first + start + 1`, ..."""
    return (str(first + n) for n in range(start, start + count))


_BULK_COLUMNS = (
    "phone",
    "email",
    "email_confirmed",
    "source_id",
    "profile",
    "meta",
    "subscriptions",
    "loyalty_enabled",
    "accept_tender_offer",
    "prioritize_sms_verification",
    "created",
)


def add_customers_bulk(conninfo: str, customers: Iterable[CustomerSpec]) -> int:
    """Write many customers with one COPY, as a bulk import does; how many were written.

    The store creates one customer per statement and has no bulk path, and thousands of
    creates would dominate the tests that need a big table, so the rows are written here. They
    are checked first as the store checks a create (the request schema, the phone and email
    normalised, profile and meta validated by the questionnaire in force), so they are rows the
    store would accept. Like a bulk import the COPY tells no write listener: the search index
    learns of these customers only from a rebuild, `reindex_since` or the consistency check.
    """

    async def copy() -> int:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            questionnaire = await questionnaire_in_force(conn)
            cur = await conn.execute("SELECT current_date")
            today = await cur.fetchone()
            assert today is not None
            rows = [_bulk_row(spec, questionnaire, today[0]) for spec in customers]
            async with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY customers ({', '.join(_BULK_COLUMNS)}) FROM STDIN") as writer,
            ):
                for row in rows:
                    await writer.write_row(row)
            return len(rows)

    return asyncio.run(copy())


def _create_request(spec: CustomerSpec) -> tuple[CustomerCreate, bool]:
    if isinstance(spec, CustomerCreate):
        return spec, False
    fields = dict(spec)
    blocked = bool(fields.pop("blocked", False))
    fields.setdefault("phone", next(_SPARE_PHONES))
    return CustomerCreate.model_validate(fields), blocked


def _bulk_row(spec: CustomerSpec, questionnaire: Questionnaire, today: Any) -> tuple[Any, ...]:
    data, blocked = _create_request(spec)
    assert not blocked, "block bulk customers with SQL of the test's own"
    return (
        normalize_phone(data.phone, REGION),
        None if data.email is None else normalize_email(data.email),
        data.email_confirmed,
        data.source_id,
        Jsonb(questionnaire.validate_profile(data.profile)),
        Jsonb(questionnaire.validate_meta(data.meta)),
        Jsonb(data.subscriptions),
        data.loyalty_enabled,
        data.accept_tender_offer,
        data.prioritize_sms_verification,
        data.created or today,
    )
