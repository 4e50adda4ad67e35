"""search-consistency and search-migrate against a real Redis with RediSearch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis

from customers import search
from customers.config import Settings
from customers.search.state import IndexState
from jobs.runner import JobUnavailable, run_job
from jobs.schedule import entries_for, jobs_by_name
from tests.factories import add_customers
from tests.jobs.support import jobs_settings

JOBS = jobs_by_name()


@pytest.fixture
def search_env(search_settings: Settings, clean_db: None) -> Iterator[tuple[Settings, redis.Redis]]:
    """Search on, an empty database and an empty Redis."""
    client = redis.Redis(
        host=search_settings.services_redis_host,
        port=search_settings.services_redis_port,
        protocol=2,
        decode_responses=True,
    )
    client.flushdb()
    yield search_settings, client
    client.close()


def muscovites(count: int) -> list[dict[str, Any]]:
    return [
        {"phone": f"+7 900 100-00-{n:02d}", "profile": {"city": "Москва", "first_name": f"Имя{n}"}}
        for n in range(count)
    ]


def run(name: str, settings: Settings, conninfo: str) -> dict[str, Any]:
    record = asyncio.run(run_job(JOBS[name], conninfo=conninfo, settings=settings, origin="cli"))
    assert record is not None
    assert record["status"] == "succeeded", record["error"]
    return record


def test_consistency_finds_and_repairs_changes_behind_the_service(
    search_env: tuple[Settings, redis.Redis], conninfo: str
) -> None:
    settings, rc = search_env
    customers = add_customers(conninfo, muscovites(6))
    assert search.init_index(settings, load_docs=True) == 6
    clean = run("search-consistency", settings, conninfo)["result"]
    assert clean["consistent_before"] and clean["repaired"] == 0 and clean["sampled"] == 6

    index = search.index_status(settings)["index"]
    deleted, altered_pg, altered_doc, gone = (c["id"] for c in customers[:4])
    rc.delete(IndexState.doc_key(index, deleted))  # the document vanishes from Redis
    with psycopg.connect(conninfo, autocommit=True) as conn:  # SQL that bypasses the store
        conn.execute("""UPDATE customers SET profile = profile || '{"city": "Тверь"}' WHERE id = %s""", (altered_pg,))
        conn.execute("DELETE FROM customers WHERE id = %s", (gone,))
    doc = rc.hgetall(IndexState.doc_key(index, altered_doc))
    field = next(k for k, v in doc.items() if "москва" in v.lower())
    rc.hset(IndexState.doc_key(index, altered_doc), field, "казань")  # the document altered in Redis

    result = run("search-consistency", settings, conninfo)["result"]
    assert not result["consistent_before"]
    assert deleted in result["examples"]["missing"]
    assert set(result["examples"]["drifted"]) >= {altered_pg, altered_doc}
    assert result["examples"]["stale"] == [gone]
    assert (
        result["repaired"] == 3 and result["consistent_after"] is True
    )  # documents written again; the stale one removed

    assert rc.hgetall(IndexState.doc_key(index, deleted))
    assert "тверь" in " ".join(map(str, rc.hgetall(IndexState.doc_key(index, altered_pg)).values())).lower()
    assert rc.hget(IndexState.doc_key(index, altered_doc), field) != "казань"
    assert not rc.exists(IndexState.doc_key(index, gone))
    assert search.check_consistency(settings, sample=200).consistent


def test_migrate_rebuilds_the_index_with_progress(search_env: tuple[Settings, redis.Redis], conninfo: str) -> None:
    settings, _ = search_env
    add_customers(conninfo, muscovites(5))
    search.init_index(settings, load_docs=True)
    before = search.index_status(settings)["index"]
    record = run("search-migrate", settings, conninfo)
    assert record["result"]["documents"] == 5 and record["result"]["previous"] == before
    after = search.index_status(settings)
    assert after["index"] == record["result"]["index"] != before and after["documents"] == 5
    assert record["progress"]["message"] == "indexing customers" and record["progress"]["done"] == 5


def test_search_jobs_are_not_scheduled_when_search_is_off(settings: Settings, conninfo: str, clean_db: None) -> None:
    assert not settings.search_enabled
    entries = {e.name: e for e in entries_for(settings, jobs_settings())}
    for name in ("search-consistency", "search-migrate"):
        assert not entries[name].active and "search is off" in (entries[name].unavailable or "")
    with pytest.raises(JobUnavailable, match="search is off"):
        asyncio.run(run_job(JOBS["search-migrate"], conninfo=conninfo, settings=settings, origin="cli"))
