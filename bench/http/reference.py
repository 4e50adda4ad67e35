"""The minimal reference service: a psycopg async pool, one parameterised statement per route,
orjson, Starlette routes and nothing else. What a competent bare service costs; `run.py` serves
it under the same uvicorn workers as the real service. The database is named by BENCH_CONNINFO.

Its routes: a SELECT by phone (the lookup), and the writes as a user would write them by hand,
without validation beyond what PostgreSQL's constraints check: a create as one INSERT ... ON
CONFLICT DO NOTHING, an update as one UPDATE that merges the profile with `||`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_COLUMNS = (
    "id, phone, email, email_confirmed, source_id, blocked, profile, meta, subscriptions, "
    "loyalty_enabled, accept_tender_offer, prioritize_sms_verification, created, updated_at"
)
_SQL = f"SELECT {_COLUMNS} FROM customers WHERE phone = %s"
_CREATE = f"""
INSERT INTO customers (phone, email, profile, meta, subscriptions)
VALUES (%(phone)s, %(email)s, %(profile)s, %(meta)s, %(subscriptions)s)
ON CONFLICT (phone) DO NOTHING
RETURNING {_COLUMNS}"""
_UPDATE = f"""
UPDATE customers
   SET loyalty_enabled = coalesce(%(loyalty_enabled)s, loyalty_enabled),
       profile = profile || %(profile)s,
       updated_at = now()
 WHERE id = %(id)s
RETURNING {_COLUMNS}"""
# jsonb parsed and rendered by orjson, as a competent service would
set_json_loads(orjson.loads)
set_json_dumps(lambda obj: orjson.dumps(obj).decode())
pool = AsyncConnectionPool(
    os.environ["BENCH_CONNINFO"], min_size=2, max_size=10, kwargs={"autocommit": True}, open=False
)


async def _one(sql: str, params: Any) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        return await cur.fetchone()


def _answer(row: dict[str, Any] | None, status: int = 200, missing: int = 404) -> Response:
    if row is None:
        return Response(b'{"code":"NOT_DONE"}', status_code=missing, media_type="application/json")
    return Response(orjson.dumps(row), status_code=status, media_type="application/json")


async def by_phone(request: Request) -> Response:
    """One customer by phone as JSON, or 404."""
    return _answer(await _one(_SQL, (request.path_params["phone"],)))


async def create(request: Request) -> Response:
    """A new customer (201), or 409 when the phone is taken."""
    body = orjson.loads(await request.body())
    params = {
        "phone": body["phone"],
        "email": body.get("email"),
        "profile": Jsonb(body.get("profile", {})),
        "meta": Jsonb(body.get("meta", {})),
        "subscriptions": Jsonb(body.get("subscriptions", {})),
    }
    return _answer(await _one(_CREATE, params), status=201, missing=409)


async def update(request: Request) -> Response:
    """Some attributes of a customer changed, the profile merged key by key; 404 when missing."""
    body = orjson.loads(await request.body())
    params = {
        "id": request.path_params["customer_id"],
        "loyalty_enabled": body.get("loyalty_enabled"),
        "profile": Jsonb(body.get("profile", {})),
    }
    return _answer(await _one(_UPDATE, params))


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    await pool.open(wait=False)
    try:
        yield
    finally:
        await pool.close()


app = Starlette(
    routes=[
        Route("/customers/by-phone/{phone}", by_phone),
        Route("/customers", create, methods=["POST"]),
        Route("/customers/{customer_id:int}", update, methods=["PATCH"]),
    ],
    lifespan=lifespan,
)
