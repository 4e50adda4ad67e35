"""The customer writes over HTTP: their round trips to PostgreSQL, and the plain routes that serve
them (service.fastlane) answering exactly what the documented FastAPI routes answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from customers import settings_store
from customers.config import Settings
from customers.questionnaire import default_document
from service.app import create_app
from service.routes import customers as customer_routes
from tests.helpers import ADMIN_TOKEN, READER_TOKEN
from tests.service.roundtrips import round_trips


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The application in this process, started (its lifespan) and reached without a socket."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


def test_round_trips_of_the_http_writes(settings: Settings, conninfo: str, clean_db: None) -> None:
    """Everything a request costs the database, the questionnaire's check included: one pooled
    connection, traced."""
    one_connection = settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 1})
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def scenario() -> dict[str, list[int]]:
        app = create_app(one_connection)
        seen: dict[str, list[int]] = {}
        async with served(app) as client:
            async with app.state.pool.connection() as conn:
                pass  # the pool's one connection: traced while each request runs (a lone write's)

            async def measure(name: str, request: Awaitable[httpx.Response], status: int) -> httpx.Response:
                with round_trips(conn) as traffic:
                    response = await request
                assert response.status_code == status, response.text
                seen.setdefault(name, []).append(traffic.round_trips)
                return response

            for n in range(7):
                created = await measure(
                    "create",
                    client.post(
                        "/customers", headers=admin, json={"phone": f"7912000{n:04d}", "profile": {"city": "Омск"}}
                    ),
                    201,
                )
                cid = created.json()["id"]
                await measure(
                    "update of profile and flags",
                    client.patch(
                        f"/customers/{cid}",
                        headers=admin,
                        json={"profile": {"children_count": 2}, "loyalty_enabled": True},
                    ),
                    200,
                )
                await measure(
                    "update of flags",
                    client.patch(f"/customers/{cid}", headers=admin, json={"accept_tender_offer": False}),
                    200,
                )
                # a value as a legacy import stored it: the merge is validated by the service
                with psycopg.connect(conninfo, autocommit=True) as other:
                    other.execute("UPDATE customers SET profile = profile || '{\"city\": 5}' WHERE id = %s", (cid,))
                refused = await measure(
                    "update over a stored value the questionnaire refuses",
                    client.patch(f"/customers/{cid}", headers=admin, json={"profile": {"children_count": 1}}),
                    422,
                )
                assert refused.json()["errors"][0]["field"] == "profile.city"
                await measure(
                    "update replacing it",
                    client.patch(f"/customers/{cid}", headers=admin, json={"profile": {"city": "Тверь"}}),
                    200,
                )
                with psycopg.connect(conninfo, autocommit=True) as other:
                    other.execute(
                        'UPDATE customers SET profile = profile || \'{"birth_date": "31.12.1990"}\' WHERE id = %s',
                        (cid,),
                    )
                kept = await measure(
                    "update over a stored value in another form",
                    client.patch(f"/customers/{cid}", headers=admin, json={"profile": {"children_count": 3}}),
                    200,
                )
                assert kept.json()["profile"]["birth_date"] == "1990-12-31"  # as the validation stores it
            # a change made by another process: the next create's statement refuses, the service
            # validates against the document it answered and writes again
            with psycopg.connect(conninfo, autocommit=True) as other:
                document = default_document().to_json()
                document["fields"].append({"key": "nickname", "label": "Ник", "type": "string", "required": True})
                other.execute(
                    "INSERT INTO questionnaire_versions (version, document, action) VALUES (1, %s, 'set')",
                    (psycopg.types.json.Jsonb(document),),
                )
            refused = await measure(
                "create, questionnaire changed",
                client.post("/customers", headers=admin, json={"phone": "79130000001"}),
                422,
            )
            assert refused.json()["errors"][0]["field"] == "profile.nickname"
            await measure(
                "create, questionnaire changed",
                client.post("/customers", headers=admin, json={"phone": "79130000001", "profile": {"nickname": "n"}}),
                201,
            )
        return seen

    seen = asyncio.run(scenario())
    assert {name: counts[-1] for name, counts in seen.items()} == {
        "create": 1,
        "update of profile and flags": 1,
        "update of flags": 1,
        "update over a stored value the questionnaire refuses": 1,
        "update replacing it": 1,
        "update over a stored value in another form": 2,
        "create, questionnaire changed": 1,
    }
    assert seen["create, questionnaire changed"] == [1, 1]  # the refusing write answered the new document
    # before: the same, or a round trip more per statement on the use where psycopg prepares it
    assert all(count <= 2 * seen[name][-1] for name, counts in seen.items() for count in counts)


# ---------------------------------------------------------------------------------------------
# The plain write routes answer what FastAPI's answer

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
READER = {"Authorization": f"Bearer {READER_TOKEN}"}
JSON = {"Content-Type": "application/json"}
SEEDED_PHONE = "79161110001"

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/customers", {"json": {"phone": "+7 (912) 345-67-89", "profile": {"birth_date": "31.12.1990"}}}),
    ("POST", "/customers", {"json": {"phone": SEEDED_PHONE}}),
    ("POST", "/customers", {"json": {"phone": "1", "email": "x", "profile": {"children_count": -1}, "nick": 1}}),
    ("POST", "/customers", {"json": {"phone": "79123456789", "meta": {"registration_channel": "fax"}}}),
    ("POST", "/customers", {"json": {"phone": 79123456789, "loyalty_enabled": "yes", "created": "31.02.2020"}}),
    ("POST", "/customers", {"content": b"[1, 2]", "headers": JSON}),
    ("POST", "/customers", {"content": b"null", "headers": JSON}),
    ("POST", "/customers", {"content": b'"x"', "headers": JSON}),
    ("POST", "/customers", {"content": b"5", "headers": JSON}),
    ("POST", "/customers", {"content": b"", "headers": JSON}),
    ("POST", "/customers", {}),
    ("POST", "/customers", {"content": b'{"phone": "79123456789"}'}),  # no content type
    ("POST", "/customers", {"content": b'{"phone": "79123456789"}', "headers": {"Content-Type": "text/plain"}}),
    ("POST", "/customers", {"content": b'{"phone": "79123456789"}', "headers": {"Content-Type": "application/x-json"}}),
    (
        "POST",
        "/customers",
        {"content": b'{"phone": "79123456789"}', "headers": {"Content-Type": "application/merge-patch+json"}},
    ),
    (
        "POST",
        "/customers",
        {"content": b'{"phone": "79123456789"}', "headers": {"Content-Type": "Application/JSON; charset=utf-8"}},
    ),
    ("POST", "/customers?tag=%00", {"json": {"phone": "79123456789"}}),
    ("POST", "/customers?tag=%00", {"json": {"phone": "79123456789"}, "token": None}),
    ("POST", "/customers", {"json": {"phone": "79123456789"}, "token": None}),
    ("POST", "/customers", {"json": {"phone": 1}, "token": READER}),
    ("POST", "/customers", {"json": {"phone": "79123456789"}, "token": {"Authorization": "Bearer nope"}}),
    (
        "PATCH",
        "/customers/1",
        {"json": {"profile": {"city": "Тверь", "first_name": None}, "subscriptions": {"sms": None}}},
    ),
    ("PATCH", "/customers/1", {"json": {"profile": {"children_count": 99}, "accept_tender_offer": False}}),
    ("PATCH", "/customers/1", {"json": {"phone": "79000000000"}}),
    ("PATCH", "/customers/1", {"json": {"source_id": "я" * 256, "meta": []}}),
    ("PATCH", "/customers/1", {"json": {}}),
    ("PATCH", "/customers/1", {}),
    ("PATCH", "/customers/1", {"content": b"[]", "headers": JSON}),
    ("PATCH", "/customers/0", {"json": {"loyalty_enabled": "yes"}}),
    ("PATCH", "/customers/99999999999999999999", {"json": {}}),
    ("PATCH", "/customers/999", {"json": {}}),
    ("PATCH", "/customers/999", {"json": {"profile": {"city": "Омск"}}}),
    ("PATCH", "/customers/1?x=%00", {"json": {}}),
    ("PATCH", "/customers/1", {"json": {}, "token": READER}),
    ("PATCH", "/customers/abc", {"json": {}}),
    ("GET", "/customers", {}),
    ("PUT", "/customers/1", {"json": {}}),
]


async def _answer(client: httpx.AsyncClient, method: str, path: str, given: dict[str, Any]) -> tuple[Any, ...]:
    options = dict(given)
    token = options.pop("token", ADMIN)
    headers = {**(token or {}), **options.pop("headers", {})}
    response = await client.request(method, path, headers=headers, **options)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body.pop("updated_at", None)
    return (
        response.status_code,
        body,
        response.headers.get("content-type"),
        response.headers.get("allow"),
        response.headers.get("www-authenticate"),
    )


def test_plain_write_routes_answer_as_the_documented_routes(
    settings: Settings, conninfo: str, clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = create_app(settings)
    monkeypatch.setattr(customer_routes, "write_routes", [])
    documented = create_app(settings)  # every write served by FastAPI
    assert len(plain.fast_routes) == len(documented.fast_routes) + 2  # type: ignore[attr-defined]

    def reset() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("TRUNCATE customers RESTART IDENTITY CASCADE")
            conn.execute(
                "INSERT INTO customers (phone, profile, subscriptions) VALUES (%s, %s, %s)",
                (SEEDED_PHONE, '{"first_name": "Иван"}', '{"sms": true}'),
            )

    async def answers(app: FastAPI) -> list[tuple[Any, ...]]:
        found = []
        async with served(app) as client:
            for method, path, given in CASES:
                reset()
                found.append(await _answer(client, method, path, given))
        return found

    async def both() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        return await answers(plain), await answers(documented)

    from_plain, from_documented = asyncio.run(both())
    for case, mine, theirs in zip(CASES, from_plain, from_documented, strict=True):
        assert mine == theirs, case
    statuses = [answer[0] for answer in from_plain]
    assert statuses.count(201) == 3 and statuses.count(200) == 2 and 422 in statuses and 401 in statuses
    assert 403 in statuses and 404 in statuses and 405 in statuses and 409 in statuses


async def _settings_change(conninfo: str, change: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]) -> None:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await change(conn)


def test_a_questionnaire_changed_elsewhere_takes_effect_on_the_next_write(api: httpx.Client, conninfo: str) -> None:
    """The live service validates against the questionnaire it holds; a change made by another
    process (here straight through the settings store) decides the very next write."""
    assert api.post("/customers", json={"phone": "79120000001", "profile": {"children_count": 5}}).status_code == 201
    document = default_document().to_json()
    for spec in document["fields"]:
        if spec["key"] == "children_count":
            spec["max"] = 3
    asyncio.run(_settings_change(conninfo, lambda conn: settings_store.set_settings(conn, document)))
    refused = api.post("/customers", json={"phone": "79120000002", "profile": {"children_count": 5}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "NUMBER_CONSTRAINT"
    customer = api.get("/customers/by-phone/79120000001").json()
    merged = api.patch(f"/customers/{customer['id']}", json={"profile": {"city": "Омск"}})
    # the stored answer no longer fits: the merged profile is validated as a whole
    assert merged.status_code == 422 and merged.json()["errors"][0]["field"] == "profile.children_count"
    asyncio.run(_settings_change(conninfo, settings_store.reset_settings))
    assert api.patch(f"/customers/{customer['id']}", json={"profile": {"city": "Омск"}}).status_code == 200
