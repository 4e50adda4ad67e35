"""RediSearch and PostgreSQL agree: random filter sets over the same 200 customers return the
same ids (hypothesis)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from customers import search
from customers.config import Settings
from customers.questionnaire import Questionnaire
from customers.search.find import schema_for
from customers.search.plan import words
from tests.factories import add_customers

FIRST = ["Иван", "ИВАН", "иванна", "Анна", "Ёлка", "Oleg", "olga", "Мария-Луиза", "Пётр", "Ян"]
LAST = ["Петров", "Иванова", "Sidorov-Smith", "О'Брайен", "Кузнецов", "петрова"]
CITIES = ["Москва", "москва", "Санкт-Петербург", "Ростов-на-Дону", "Нижний Новгород", "Tver", " Омск "]
INTERESTS = ["sport", "travel", "cooking", "books", "music"]
STORES = ["ТЦ «Европа»", "Store #1", "магазин_2", "a+b (c)"]


def _customer(rng: random.Random, i: int) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    maybe = lambda p: rng.random() < p  # noqa: E731
    if maybe(0.9):
        profile["first_name"] = rng.choice(FIRST)
    if maybe(0.8):
        profile["last_name"] = rng.choice(LAST)
    if maybe(0.8):
        profile["city"] = rng.choice(CITIES)
    if maybe(0.85):
        profile["birth_date"] = f"{rng.randint(1950, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if maybe(0.7):
        profile["gender"] = rng.choice(["male", "female"])
    if maybe(0.6):
        profile["children_count"] = rng.randint(0, 4)
    if maybe(0.6):
        profile["interests"] = rng.sample(INTERESTS, rng.randint(1, 3))
    if maybe(0.5):
        profile["shoe_size"] = rng.choice([36, 37.5, 38, 41.5, 44])
    if maybe(0.5):
        profile["car_owner"] = maybe(0.5)
    if maybe(0.3):
        profile["favourite_store"] = rng.choice(STORES)
    if maybe(0.3):
        profile["about"] = " ".join(rng.sample(["люблю", "книги", "и", "спорт", "Travel", "кофе-брейк"], 3))
    data: dict[str, Any] = {
        "phone": f"+7 912 {i // 10000 % 1000:03d}-{i % 10000:04d}",
        "profile": profile,
        "loyalty_enabled": maybe(0.8),
    }
    if maybe(0.6):
        data["email"] = f"User{i}@Example.ru"
    if maybe(0.5):
        data["meta"] = {
            "legacy_id": f"L-{rng.randint(1, 30)}",
            "registration_channel": rng.choice(["store", "web", "app"]),
        }
    return data


@pytest.fixture(scope="module")
def dataset(search_settings: Settings, conninfo: str) -> Iterator[None]:
    """200 customers in PostgreSQL and in a fresh index; a third of the documents rewritten
    afterwards, so the index's own order of equal sort values is not id order."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE customers RESTART IDENTITY CASCADE")
    client = redis.Redis(host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=2)
    client.flushdb()
    rng = random.Random(20261126)
    rows = add_customers(conninfo, [_customer(rng, i) for i in range(200)])
    assert search.init_index(search_settings, load_docs=True) == 200
    rewritten = rng.sample([r["id"] for r in rows], 70)
    assert search.reindex_ids(search_settings, rewritten) == 70
    yield
    client.close()


SCHEMA = schema_for(Questionnaire.default())


def _value_for(kind: str) -> st.SearchStrategy[Any]:
    f = SCHEMA.by_key[kind]
    if f.type == "date":
        return st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2006, 1, 1)).map(lambda d: d.isoformat())
    if f.kind == "numeric":
        return st.sampled_from([0, 1, 2, 3, 36, 37.5, 38, 41.5, 44, 40])
    if f.type == "boolean":
        return st.booleans()
    if f.options:
        return st.sampled_from(list(f.options[:6]))
    if kind == "city":
        return st.sampled_from([*CITIES, "МОСКВА", "санкт", "нет такого"])
    if kind == "favourite_store":
        return st.sampled_from([*STORES, "store"])
    if kind == "meta.legacy_id":
        return st.sampled_from(["L-1", "l-2", "L-30", "L-99"])
    if kind == "email":
        return st.sampled_from(["user1@example.ru", "USER7@EXAMPLE.RU", "nobody@example.ru"])
    return st.sampled_from(FIRST + LAST + ["Петров Иван", "книги спорт", "travel"])


_CONDS = {
    "first_name": ["contains", "prefix", "exists"],
    "last_name": ["contains", "prefix", "exists"],
    "about": ["contains", "prefix", "exists"],
    "city": ["eq", "ne", "in", "prefix", "exists"],
    "favourite_store": ["eq", "ne", "prefix", "exists"],
    "gender": ["eq", "ne", "in", "exists"],
    "interests": ["eq", "contains", "ne", "in", "exists"],
    "car_owner": ["eq", "ne", "exists"],
    "birth_date": ["eq", "ne", "gt", "gte", "lt", "lte", "between", "exists"],
    "children_count": ["eq", "ne", "gt", "lte", "between", "in", "exists"],
    "shoe_size": ["gte", "lt", "in", "exists"],
    "email": ["eq", "ne", "exists"],
    "meta.legacy_id": ["eq", "ne", "in", "prefix", "exists"],
    "loyalty_enabled": ["eq", "ne"],
}


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(_CONDS)))
    condition = draw(st.sampled_from(_CONDS[kind]))
    value_strategy = _value_for(kind)
    if condition == "exists":
        value: Any = draw(st.booleans())
    elif condition == "in":
        value = draw(st.lists(value_strategy, min_size=1, max_size=3))
    elif condition == "between":
        value = sorted(draw(st.lists(value_strategy, min_size=2, max_size=2)))
    elif condition == "prefix":
        full = str(draw(value_strategy)).strip()
        value = full[: draw(st.integers(min_value=2, max_value=max(2, len(full))))]
        found = words(value)
        if not found or len(found[-1]) < 2 or (SCHEMA.by_key[kind].kind == "tag" and len(value.strip()) < 2):
            value = "ив"
    else:
        value = draw(value_strategy)
    return {"kind": kind, "condition": condition, "value": value}


SORTABLE = [f.key for f in SCHEMA.fields if f.sortable]

requests = st.fixed_dictionaries(
    {
        "filters": st.lists(filters(), max_size=3),
        "sort_key": st.sampled_from(SORTABLE),
        "sort_order": st.sampled_from(["asc", "desc"]),
    },
    optional={
        "query": st.sampled_from(
            ["ива", "Иван", "петров ив", "ёл", "sidorov sm", "книги", "o'бр", "кофе брейк", "мария луиза"]
        )
    },
)


def _run(settings: Settings, conninfo: str, request: search.FindRequest, *, redis_on: bool) -> search.FindResult:
    async def go() -> search.FindResult:
        runtime = search.SearchRuntime.open(settings) if redis_on else None
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                return await search.find(conn, Questionnaire.default(), request, settings=settings, runtime=runtime)
        finally:
            if runtime is not None:
                await runtime.close()

    return asyncio.run(go())


@hyp_settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=requests)
def test_redisearch_and_postgresql_return_the_same_customers(
    body: dict[str, Any],
    dataset: None,
    search_settings: Settings,
    conninfo: str,
) -> None:
    request = search.FindRequest(**body, limit=1000)
    indexed = _run(search_settings, conninfo, request, redis_on=True)
    assert indexed.engine == "redisearch", indexed.fallback
    exact = _run(search_settings, conninfo, request, redis_on=False)
    assert exact.engine == "postgresql"
    got, want = [c["id"] for c in indexed.items], [c["id"] for c in exact.items]
    assert indexed.total == exact.total
    # the same customers in the same order: equal sort values in id order on both engines
    assert got == want


@hyp_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offset=st.integers(min_value=0, max_value=210),
    limit=st.integers(min_value=0, max_value=40),
    desc=st.booleans(),
    flt=st.lists(filters(), max_size=1),
)
def test_pages_by_id_are_identical(
    offset: int,
    limit: int,
    desc: bool,
    flt: list[dict[str, Any]],
    dataset: None,
    search_settings: Settings,
    conninfo: str,
) -> None:
    request = search.FindRequest(
        filters=flt, offset=offset, limit=limit, sort_key="id", sort_order="desc" if desc else "asc"
    )
    indexed = _run(search_settings, conninfo, request, redis_on=True)
    exact = _run(search_settings, conninfo, request, redis_on=False)
    assert indexed.engine == "redisearch"
    assert (indexed.total, [c["id"] for c in indexed.items]) == (exact.total, [c["id"] for c in exact.items])
