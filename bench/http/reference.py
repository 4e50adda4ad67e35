"""The minimal reference service: one Starlette route, a psycopg async pool, one parameterised
SELECT by phone, orjson. What a competent bare service costs; `run.py` serves it under the same
uvicorn workers as the real service. The database is named by BENCH_CONNINFO."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_SQL = (
    "SELECT id, phone, email, email_confirmed, source_id, blocked, profile, meta, subscriptions, "
    "loyalty_enabled, accept_tender_offer, prioritize_sms_verification, created, updated_at "
    "FROM customers WHERE phone = %s"
)
set_json_loads(orjson.loads)  # jsonb parsed by orjson, as a competent service would
pool = AsyncConnectionPool(
    os.environ["BENCH_CONNINFO"], min_size=2, max_size=10, kwargs={"autocommit": True}, open=False
)


async def by_phone(request: Request) -> Response:
    """One customer by phone as JSON, or 404."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_SQL, (request.path_params["phone"],))
        row: dict[str, Any] | None = await cur.fetchone()
    if row is None:
        return Response(b'{"code":"CUSTOMER_NOT_FOUND"}', status_code=404, media_type="application/json")
    return Response(orjson.dumps(row), media_type="application/json")


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    await pool.open(wait=False)
    try:
        yield
    finally:
        await pool.close()


app = Starlette(routes=[Route("/customers/by-phone/{phone}", by_phone)], lifespan=lifespan)
