"""`find`: validated once, answered by RediSearch when it can, otherwise by PostgreSQL.

The index answers ids in order (NOCONTENT); the records come from PostgreSQL, the source of
truth. PostgreSQL answers instead when search is off, Redis is unreachable, the index was built
from an older questionnaire than the query needs, or the server returned a short (timed-out)
page or fewer matches than it counted — never a silently wrong page. Pages are PostgreSQL's
exactly: equal sort values in id order.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import redis

from customers.config import Settings
from customers.db import AsyncConn
from customers.questionnaire import Questionnaire
from customers.search.client import REDIS_ERRORS
from customers.search.pager import IndexCannotAnswer, IndexPager, add_timing
from customers.search.pg import fetch_ordered, find_pg
from customers.search.plan import QueryPlan, plan_query
from customers.search.redis_query import query_string
from customers.search.request import FindRequest
from customers.search.runtime import SearchRuntime
from customers.search.schema import IndexSchema
from customers.search.state import IndexState

log = logging.getLogger(__name__)
Engine = Literal["redisearch", "postgresql"]

# (version, id of the document) -> (the document, kept alive so its id is not reused; schema)
_schemas: dict[tuple[int, int], tuple[object, IndexSchema]] = {}


def schema_for(q: Questionnaire) -> IndexSchema:
    """The schema derived from a questionnaire (cached per document object)."""
    key = (q.version, id(q.document))
    cached = _schemas.get(key)
    if cached is None:
        if len(_schemas) > 32:
            _schemas.clear()
        cached = _schemas[key] = (q.document, IndexSchema.from_questionnaire(q))
    return cached[1]


@dataclass
class FindResult:
    """A page of full customer records in the requested order, and the total count."""

    total: int
    items: list[dict[str, Any]]
    engine: Engine
    fallback: str | None = None  # why PostgreSQL answered although search is on
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds: redis, database

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "items": self.items, "engine": self.engine, "fallback": self.fallback}


async def find(
    conn: AsyncConn,
    q: Questionnaire,
    request: FindRequest,
    *,
    settings: Settings,
    runtime: SearchRuntime | None = None,
) -> FindResult:
    """Find customers: free text, filters, a page and an order; raises ValidationFailed (422)
    for anything the engines could answer wrongly."""
    checked = plan_query(
        request, schema_for(q), max_window=settings.search_max_window, region=settings.phone_default_region
    )
    fallback: str | None = None
    timings: dict[str, float] = {}
    if settings.search_enabled and runtime is not None:
        try:
            return await _find_redis(conn, checked, runtime, timings)
        except IndexCannotAnswer as exc:
            fallback = str(exc)
        except REDIS_ERRORS as exc:
            fallback = f"Redis unavailable: {exc}"
            runtime.failed("find", exc)
        except redis.ResponseError as exc:
            if "timeout" in str(exc).lower():  # 2.x, or 1.2 with ON_TIMEOUT fail
                fallback = f"the search query timed out ({exc})"
                log.warning("RediSearch timed out on %r", query_string(checked))
            else:
                fallback = f"the search server refused the query: {exc}"
                log.error("RediSearch refused %r: %s", query_string(checked), exc)
        runtime.counters.find_fallbacks += 1
    started = time.perf_counter()
    total, items = await find_pg(conn, checked)
    timings["database"] = (time.perf_counter() - started) * 1000
    return FindResult(total, items, "postgresql", fallback, timings)


async def _find_redis(
    conn: AsyncConn, checked: QueryPlan, runtime: SearchRuntime, timings: dict[str, float]
) -> FindResult:
    started = time.perf_counter()
    dialect = await runtime.dialect()
    current, _ = await runtime.targets()
    if current is None:
        raise IndexCannotAnswer("no search index exists (run `customers search init --load-docs`)")
    built = await runtime.schema_of(current)
    if built is None:
        raise IndexCannotAnswer(f"the schema of index {current} is unknown")
    by_key = built.by_key
    for f in checked.fields_used():
        if by_key.get(f.key) != f:
            raise IndexCannotAnswer(
                f"index {current} was built from another questionnaire ({f.key!r} differs): run migrate"
            )
    timings["redis"] = (time.perf_counter() - started) * 1000
    pager = IndexPager(
        runtime.client,
        dialect,
        dialect.search_target(IndexState.ALIAS, current),
        IndexState.doc_prefix(current),
        checked,
        conn,
        timings,
        await runtime.query_timeout(),
    )
    total, ids = await pager.page()
    started = time.perf_counter()
    items = await fetch_ordered(conn, ids)
    add_timing(timings, "database", started)
    if len(items) < len(ids):
        log.warning("the search index holds %d customers that no longer exist", len(ids) - len(items))
    return FindResult(total, items, "redisearch", None, timings)
