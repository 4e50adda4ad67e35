"""brin-summarize against the real customers table and its BRIN index."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from customers.config import Settings
from jobs.runner import run_job
from jobs.schedule import jobs_by_name
from tests.factories import add_customers_bulk, numbered_phones


@pytest.fixture
def no_autovacuum(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    # autovacuum also summarises new ranges; keep it from racing the job
    conn.execute("ALTER TABLE customers SET (autovacuum_enabled = false)")
    yield conn
    conn.execute("ALTER TABLE customers RESET (autovacuum_enabled)")


def run_brin(conninfo: str, settings: Settings) -> dict[str, Any]:
    run = asyncio.run(run_job(jobs_by_name()["brin-summarize"], conninfo=conninfo, settings=settings, origin="cli"))
    assert run is not None and run["status"] == "succeeded", run
    return run


def test_reports_the_ranges_summarised_on_a_grown_table(
    no_autovacuum: psycopg.Connection[Any], conninfo: str, settings: Settings
) -> None:
    conn = no_autovacuum
    add_customers_bulk(conninfo, ({"phone": phone} for phone in numbered_phones(3000)))
    run_brin(conninfo, settings)  # summarises what is there: the baseline

    add_customers_bulk(conninfo, ({"phone": phone} for phone in numbered_phones(20000, start=3000)))
    pages = conn.execute("SELECT pg_relation_size('customers') / current_setting('block_size')::int").fetchone()
    assert pages is not None
    run = run_brin(conninfo, settings)
    ranges = run["result"]["ranges_summarized"]
    # 20000 new rows fill well over 32 pages each range: several new ranges, all now summarised
    assert ranges >= 5
    assert ranges <= pages[0] // 32 + 1
    assert run["result"]["index"] == "idx_customers_id"

    again = run_brin(conninfo, settings)
    assert again["result"]["ranges_summarized"] == 0

    with psycopg.connect(conninfo, autocommit=True) as check:
        recorded = check.execute(
            "SELECT result->>'ranges_summarized' FROM job_runs WHERE job = 'brin-summarize' ORDER BY id"
        ).fetchall()
    assert [int(r[0]) for r in recorded][1:] == [ranges, 0]
