"""The lookups' fast path (plain routes, JSON rendered by PostgreSQL) answers exactly what the
documented routes and the writes answer."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from customers import store
from tests.factories import new_customers, numbered_phones


@pytest.mark.parametrize(
    "stamp", ["2026-11-26 05:50:00.123450+00", "2026-11-26 05:50:00+00", "2026-11-26 05:50:00.000001+00", None]
)
def test_lookups_render_like_writes(api: httpx.Client, conninfo: str, stamp: str | None) -> None:
    created = api.post(
        "/customers",
        json={
            "phone": "+7 916 123-45-67",
            "email": "Ivan@Example.RU",
            "source_id": 'Склад №7 «Центральный» "A"',
            "subscriptions": {"sms": True},
            "profile": {
                "first_name": "Иван",
                "birth_date": "1990-12-31",
                "shoe_size": 42.5,
                "interests": ["sport"],
                "car_owner": True,
            },
            "meta": {"legacy_id": "L-1"},
        },
    ).json()
    if stamp is not None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("UPDATE customers SET updated_at = %s WHERE id = %s", (stamp, created["id"]))
    # a write answers with the row as the driver reads it, rendered by orjson
    written = (
        api.post(f"/customers/{created['id']}/unblock").json()
        if stamp is None
        else _rendered_as_written(conninfo, created["id"])
    )
    for path in (
        f"/customers/{created['id']}",
        "/customers/by-phone/79161234567",
        "/customers/by-phone/8 (916) 123-45-67",
        "/customers/by-email/IVAN@example.ru",
    ):
        response = api.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == written, path


def _rendered_as_written(conninfo: str, customer_id: int) -> dict[str, Any]:
    """The stored row as a write answers it: read by the driver, rendered by orjson (a real
    write would move updated_at off the stamp under test)."""

    async def read() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            row = await store.get_customer(conn, customer_id)
        assert row is not None
        return orjson.loads(orjson.dumps(row))

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/customers/0", "customer_id"),
        ("/customers/99999999999999999999", "customer_id"),
        ("/customers/9223372036854775808", "customer_id"),
    ],
)
def test_ids_outside_bigint_are_422_not_500(api: httpx.Client, path: str, field: str) -> None:
    response = api.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    assert api.patch(path, json={}).status_code == 422
    assert api.get("/customers/9223372036854775807").status_code == 404


@pytest.mark.parametrize("path", ["/customers/abc", "/customers/-5", "/customers/1.5"])
def test_ids_that_are_not_digits_name_no_resource(api: httpx.Client, path: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        assert api.request(method, path, json={} if method == "PATCH" else None).status_code == 404


def test_phone_lookup_forms(api: httpx.Client) -> None:
    ru = api.post("/customers", json={"phone": "8 916 123 45 67"}).json()
    de = api.post("/customers", json={"phone": "+49 1512 3456789"}).json()
    assert de["phone"] == "4915123456789"
    for given, expected in (
        ("79161234567", ru),
        ("+79161234567", ru),
        ("89161234567", ru),
        ("9161234567", ru),
        ("4915123456789", de),
        ("+4915123456789", de),
    ):
        response = api.get(f"/customers/by-phone/{given}")
        assert response.status_code == 200, given
        assert response.json()["id"] == expected["id"]
    assert api.get("/customers/by-phone/79161230000").json()["code"] == "CUSTOMER_NOT_FOUND"
    invalid = api.get("/customers/by-phone/123")
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "phone"


def test_head_and_405_on_lookup_paths(api: httpx.Client) -> None:
    created = api.post("/customers", json={"phone": "79161234567"}).json()
    assert api.head(f"/customers/{created['id']}").status_code == 200
    response = api.put(f"/customers/{created['id']}", json={})
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}


def test_concurrent_lookups_answer_each_request(api: httpx.Client, live: Any) -> None:
    """Lookups sent at once (coalesced into shared queries) each get their own customer, a 404
    or a 422, exactly as when sent one by one."""
    made = [
        api.post("/customers", json={"phone": f"7916555{i:04d}", "email": f"c{i}@example.com"}).json()
        for i in range(12)
    ]
    paths = []
    for i, customer in enumerate(made):
        paths += [
            f"/customers/by-phone/7916555{i:04d}",
            f"/customers/by-phone/8 916 555-{i:04d}",
            f"/customers/by-email/C{i}@example.com",
            f"/customers/{customer['id']}",
        ]
    paths += [
        "/customers/by-phone/79165559999",
        "/customers/by-email/nobody@example.com",
        "/customers/9999999",
        "/customers/by-phone/123",
        "/customers/by-phone/79165550003",
    ]  # the last one twice in a batch
    expected = {path: (api.get(path).status_code, api.get(path).content) for path in paths}

    async def all_at_once() -> list[tuple[str, int, bytes]]:
        async with httpx.AsyncClient(base_url=live.url, headers=dict(api.headers)) as client:
            responses = await asyncio.gather(*(client.get(path) for path in paths * 3))
        return [(str(r.request.url.raw_path, "utf-8"), r.status_code, r.content) for r in responses]

    answered = asyncio.run(all_at_once())
    assert len(answered) == 3 * len(paths)
    for (path, status, body), sent in zip(answered, paths * 3, strict=False):
        assert (status, body) == expected[sent], path
    assert sum(status == 200 for _, status, _ in answered) == 3 * 4 * 12 + 3


async def _seed_phones(pool: Any, n: int, sizes: list[int]) -> Any:
    """Customers with phones 79170000001.. (n of them); a fetch by phone recording each query's size."""
    async with pool.connection() as conn:
        await new_customers(conn, ({"phone": phone} for phone in numbered_phones(n, first=79170000001)))

    async def fetch(conn: psycopg.AsyncConnection[Any], keys: list[str]) -> dict[str, bytes]:
        sizes.append(len(keys))
        return await store.customers_json_by_phone(conn, keys)

    return fetch


def test_coalescer_shares_queries_and_errors(conninfo: str, clean_db: None) -> None:
    """Keys asked for together go out in one query; a failing query fails each of its waiters;
    a waiter that gives up leaves the others their answers."""
    from psycopg_pool import AsyncConnectionPool

    from service.coalesce import MAX_BATCH, Coalescer

    async def scenario() -> None:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            sizes: list[int] = []
            fetch = await _seed_phones(pool, 40, sizes)

            coalescer: Coalescer[str] = Coalescer(pool, fetch)
            keys = [str(79170000000 + i) for i in range(1, 41)] + ["79179999999", "79170000001"]
            found = await asyncio.gather(*(coalescer.get(key) for key in keys))
            assert [orjson.loads(doc)["phone"] if doc else None for doc in found] == [*keys[:40], None, keys[0]]
            assert sum(sizes) == 41 and len(sizes) < 10  # one query for each key, shared by many requests
            sizes.clear()
            many = [str(79170000000 + i) for i in range(1, 601)]  # more than one query may carry
            found = await asyncio.gather(*(coalescer.get(key) for key in many))
            assert [doc is not None for doc in found] == [i < 40 for i in range(600)]
            assert sum(sizes) == 600 and max(sizes) <= MAX_BATCH

            async def failing(conn: psycopg.AsyncConnection[Any], keys: list[str]) -> dict[str, bytes]:
                await conn.execute("SELECT 1 / 0")
                return {}

            broken: Coalescer[str] = Coalescer(pool, failing)
            outcomes = await asyncio.gather(*(broken.get(key) for key in keys[:5]), return_exceptions=True)
            assert all(isinstance(o, psycopg.errors.DivisionByZero) for o in outcomes)

            slow_started = asyncio.Event()

            async def slow(conn: psycopg.AsyncConnection[Any], keys: list[str]) -> dict[str, bytes]:
                slow_started.set()
                await conn.execute("SELECT pg_sleep(0.2)")
                return await store.customers_json_by_phone(conn, keys)

            patient: Coalescer[str] = Coalescer(pool, slow)
            leaving = asyncio.ensure_future(patient.get(keys[0]))
            staying = asyncio.ensure_future(patient.get(keys[1]))
            await slow_started.wait()
            leaving.cancel()
            document = await staying
            assert document is not None and orjson.loads(document)["phone"] == keys[1]
            assert leaving.cancelled()
            await patient.aclose()

    asyncio.run(scenario())


def test_coalescing_switched_off_sends_a_query_per_lookup(conninfo: str, clean_db: None) -> None:
    """`lookup_coalescing=false`: every lookup is its own single-key query, answers unchanged."""
    from psycopg_pool import AsyncConnectionPool

    from service.coalesce import Coalescer

    async def scenario() -> None:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=4, kwargs={"autocommit": True}) as pool:
            sizes: list[int] = []
            fetch = await _seed_phones(pool, 20, sizes)

            single: Coalescer[str] = Coalescer(pool, fetch, enabled=False)
            keys = [str(79170000000 + i) for i in range(1, 21)] + ["79179999999"]
            found = await asyncio.gather(*(single.get(key) for key in keys))
            assert [orjson.loads(doc)["phone"] if doc else None for doc in found] == [*keys[:20], None]
            assert sizes == [1] * 21

    asyncio.run(scenario())
