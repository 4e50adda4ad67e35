"""The store's change notification: after commit, and never failing the write."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from customers import store
from customers.models import CustomerCreate, CustomerUpdate
from customers.questionnaire import Questionnaire


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
