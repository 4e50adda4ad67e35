"""Sorted pages over RediSearch are exactly PostgreSQL's: the same ids in the same order (equal
sort values in id order, asc and desc, also after documents were rewritten) and the same total;
deep pages narrowed by a range of the sort value give the same pages."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from customers import search
from customers.config import Settings
from customers.questionnaire import Questionnaire
from customers.search import pager as pager_module
from customers.search.client import probe
from customers.search.find import schema_for
from customers.search.pager import IndexPager
from customers.search.plan import plan_query
from customers.search.state import IndexState
from tests.factories import add_customers

N = 240
DATES = ["2019-03-01", "2019-03-02", "2020-01-15", "2021-07-07", "2021-07-08", "2023-12-31"]
NAMES = ["Иван", "иван петр", "Анна", "Oleg"]
CITIES = ["Москва", "Тверь", "Омск", "Уфа"]


def _customer(rng: random.Random, i: int) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    if rng.random() < 0.7:
        profile["birth_date"] = rng.choice(["1980-01-01", "1985-05-05", "1990-10-10", "2000-02-29", "1970-12-31"])
    if rng.random() < 0.7:
        profile["city"] = rng.choice(CITIES)
    if rng.random() < 0.8:
        profile["first_name"] = rng.choice(NAMES)
    data: dict[str, Any] = {
        "phone": f"+7 913 {i // 10000 % 1000:03d}-{i % 10000:04d}",
        "profile": profile,
        "created": rng.choice(DATES),
        "loyalty_enabled": rng.random() < 0.7,
    }
    if rng.random() < 0.6:
        data["source_id"] = rng.choice(["LEG-7", "LEG-8", "Склад №9"])
    return data


@pytest.fixture(scope="module")
def ties(search_settings: Settings, conninfo: str) -> Iterator[None]:
    """N customers with few distinct sort values; a third of their documents rewritten in
    descending id order afterwards, so the index's own order of equal values is not id order."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE customers RESTART IDENTITY CASCADE")
    client = redis.Redis(host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=2)
    client.flushdb()
    rng = random.Random(4)
    add_customers(conninfo, [_customer(rng, i) for i in range(N)])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # equal fractional timestamps: runs of a value the query must name exactly
        conn.execute("UPDATE customers SET updated_at = '2026-01-01 10:00:00.123457+00' WHERE id % 3 = 0")
        conn.execute("UPDATE customers SET updated_at = '2026-01-01 10:00:00.1+00' WHERE id % 3 = 1")
        ids = [r[0] for r in conn.execute("SELECT id FROM customers ORDER BY id")]
        conn.execute("ANALYZE customers")  # the sample's size check reads the planner's row count
    assert search.init_index(search_settings, load_docs=True) == N
    rewritten = rng.sample(ids, N // 3)
    for i in sorted(rewritten, reverse=True):
        assert search.reindex_ids(search_settings, [i]) == 1
    yield
    client.close()


def _find(settings: Settings, conninfo: str, body: dict[str, Any], *, redis_on: bool) -> search.FindResult:
    async def go() -> search.FindResult:
        runtime = search.SearchRuntime.open(settings) if redis_on else None
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                return await search.find(
                    conn, Questionnaire.default(), search.FindRequest(**body), settings=settings, runtime=runtime
                )
        finally:
            if runtime is not None:
                await runtime.close()

    return asyncio.run(go())


def _same(settings: Settings, conninfo: str, body: dict[str, Any]) -> None:
    indexed = _find(settings, conninfo, body, redis_on=True)
    exact = _find(settings, conninfo, body, redis_on=False)
    assert indexed.engine == "redisearch", indexed.fallback
    assert exact.engine == "postgresql"
    assert (indexed.total, [c["id"] for c in indexed.items]) == (exact.total, [c["id"] for c in exact.items]), body


PAGES = [(0, 240), (0, 7), (13, 20), (39, 3), (40, 41), (101, 1), (150, 60), (230, 20), (239, 5)]


@pytest.fixture(params=["whole", "narrowed"])
def narrowing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Pages read whole, and pages narrowed by a range of the sort value from a small sample
    (so the estimate misses and is widened now and then)."""
    if request.param == "narrowed":
        monkeypatch.setattr(pager_module, "NARROW_MIN", 10)
        monkeypatch.setattr(pager_module, "NARROW_FILTERED_DEPTH", 0)
        monkeypatch.setattr(pager_module, "SAMPLE_PAGES", 2)
    return str(request.param)


@pytest.mark.parametrize("sort_key", ["created", "birth_date", "source_id", "updated_at", "city", "first_name", "id"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorted_pages_equal_postgresql_with_ties(
    ties: None,
    narrowing: str,
    sort_key: str,
    order: str,
    search_settings: Settings,
    conninfo: str,
) -> None:
    for offset, limit in PAGES:
        _same(search_settings, conninfo, {"sort_key": sort_key, "sort_order": order, "offset": offset, "limit": limit})


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_filtered_sorted_pages_equal_postgresql(
    ties: None,
    narrowing: str,
    order: str,
    search_settings: Settings,
    conninfo: str,
) -> None:
    filters = [{"kind": "loyalty_enabled", "condition": "eq", "value": True}]
    for offset, limit in [(0, 20), (25, 30), (100, 15), (160, 40)]:
        for key in ("created", "city"):
            _same(
                search_settings,
                conninfo,
                {"filters": filters, "sort_key": key, "sort_order": order, "offset": offset, "limit": limit},
            )
    _same(
        search_settings,
        conninfo,
        {"query": "ив", "sort_key": "created", "sort_order": order, "offset": 30, "limit": 10},
    )


def test_count_only_and_pages_past_the_end(ties: None, search_settings: Settings, conninfo: str) -> None:
    _same(search_settings, conninfo, {"sort_key": "created", "offset": 5, "limit": 0})
    _same(search_settings, conninfo, {"sort_key": "created", "offset": 300, "limit": 10})
    result = _find(search_settings, conninfo, {"sort_key": "created", "offset": 300, "limit": 10}, redis_on=True)
    assert (result.total, result.items) == (N, [])


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("offset", [0, 30, 100])
def test_a_deep_page_is_read_from_a_narrow_range(
    ties: None,
    order: str,
    offset: int,
    search_settings: Settings,
    conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server sorts only the matches inside a range of the sort value, never all of them,
    and the page is PostgreSQL's."""
    monkeypatch.setattr(pager_module, "NARROW_MIN", 10)
    monkeypatch.setattr(pager_module, "WINDOW_MARGIN", 3)
    schema = schema_for(Questionnaire.default())
    request = search.FindRequest(sort_key="created", sort_order=order, offset=offset, limit=10)
    checked = plan_query(request, schema, max_window=10_000, region="RU")

    async def go() -> tuple[int, list[int], list[tuple[str, int]]]:
        runtime = search.SearchRuntime.open(search_settings)
        sorted_queries: list[tuple[str, int]] = []
        try:
            current, _ = await runtime.targets()
            assert current is not None
            dialect = await runtime.dialect()
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                pager = IndexPager(
                    runtime.client,
                    dialect,
                    dialect.search_target(IndexState.ALIAS, current),
                    IndexState.doc_prefix(current),
                    checked,
                    conn,
                    {},
                )
                call = pager._call

                async def spy(*args: Any) -> Any:
                    reply = await call(*args)
                    if "SORTBY" in args and "created" in args:
                        sorted_queries.append((str(args[2]), int(reply[0])))
                    return reply

                pager._call = spy  # type: ignore[method-assign]
                total, ids = await pager.page()
                return total, ids, sorted_queries
        finally:
            await runtime.close()

    total, ids, sorted_queries = asyncio.run(go())
    exact = _find(search_settings, conninfo, request.model_dump(), redis_on=False)
    assert (total, ids) == (exact.total, [c["id"] for c in exact.items])
    assert sorted_queries and all(q.startswith("@created:[") and matched < N for q, matched in sorted_queries)


def test_equal_text_values_beyond_the_bound_are_ordered_by_postgresql(
    ties: None,
    search_settings: Settings,
    conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pager_module, "TEXT_GROUP_MAX", 5)
    monkeypatch.setattr(pager_module, "WINDOW_MARGIN", 2)
    body = {"sort_key": "first_name", "offset": 20, "limit": 10}
    indexed = _find(search_settings, conninfo, body, redis_on=True)
    exact = _find(search_settings, conninfo, body, redis_on=False)
    assert indexed.engine == "postgresql"
    assert indexed.fallback is not None and "share the text sort value" in indexed.fallback
    assert [c["id"] for c in indexed.items] == [c["id"] for c in exact.items]


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_runs_of_equal_values_longer_than_the_window(
    ties: None,
    order: str,
    search_settings: Settings,
    conninfo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs of equal values cut by the window are read in id order by queries of their own."""
    monkeypatch.setattr(pager_module, "WINDOW_MARGIN", 2)
    for key in ("created", "birth_date", "source_id", "updated_at", "city", "first_name"):
        for offset, limit in PAGES:
            _same(search_settings, conninfo, {"sort_key": key, "sort_order": order, "offset": offset, "limit": limit})


def test_module_timeout_from_load_arguments() -> None:
    from customers.search.runtime import DEFAULT_QUERY_TIMEOUT, module_timeout

    assert module_timeout(("TIMEOUT", "100", "ON_TIMEOUT", "fail")) == 0.1
    assert module_timeout(("timeout", "0")) is None  # no timeout at all
    assert module_timeout(("MAXEXPANSIONS", "1000")) == module_timeout(()) == DEFAULT_QUERY_TIMEOUT


def test_the_server_timeout_decides_when_a_sorted_total_is_checked(
    ties: None, search_settings: Settings, conninfo: str
) -> None:
    """A sorted query is checked against a count only when it ran as long as the server's
    timeout (read from the server on 2.x); a fast one costs a single query."""
    schema = schema_for(Questionnaire.default())
    filters = [{"kind": "loyalty_enabled", "condition": "eq", "value": True}]
    request = search.FindRequest(filters=filters, sort_key="created", offset=3, limit=5)
    checked = plan_query(request, schema, max_window=10_000, region="RU")

    async def go(timeout: float | None) -> tuple[int, list[int], int, float | None]:
        runtime = search.SearchRuntime.open(search_settings)
        calls: list[tuple[Any, ...]] = []
        try:
            current, _ = await runtime.targets()
            assert current is not None
            dialect = await runtime.dialect()
            server_timeout = await runtime.query_timeout()
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                pager = IndexPager(
                    runtime.client,
                    dialect,
                    dialect.search_target(IndexState.ALIAS, current),
                    IndexState.doc_prefix(current),
                    checked,
                    conn,
                    {},
                    timeout,
                )
                call = pager._call

                async def spy(*args: Any) -> Any:
                    calls.append(args)
                    return await call(*args)

                pager._call = spy  # type: ignore[method-assign]
                total, ids = await pager.page()
                return total, ids, len(calls), server_timeout
        finally:
            await runtime.close()

    exact = _find(search_settings, conninfo, request.model_dump(), redis_on=False)
    want = (exact.total, [c["id"] for c in exact.items])
    total, ids, queries, server_timeout = asyncio.run(go(0.5))
    assert (total, ids) == want and queries == 1 and server_timeout == 0.5
    total, ids, queries, _ = asyncio.run(go(0.0))  # as if every query had run into the timeout
    assert (total, ids) == want and queries == 2  # the sorted query, then its count
    client = redis.Redis(host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=2)
    try:
        if probe(client).has_aliases:  # 2.x: the runtime reads a changed timeout
            client.execute_command("FT.CONFIG", "SET", "TIMEOUT", 250)
            try:
                assert asyncio.run(go(0.5))[3] == 0.25
            finally:
                client.execute_command("FT.CONFIG", "SET", "TIMEOUT", 500)
    finally:
        client.close()
