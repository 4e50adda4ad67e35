"""import-cleanup: leftovers of failed imports, created by the test in schemas of its own (the
import's real tables may or may not exist in the suite's database)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from jobs.imports import import_cleanup


@pytest.fixture
def schema(conn: psycopg.Connection[Any]) -> Iterator[str]:
    conn.execute("DROP SCHEMA IF EXISTS cleanup_test CASCADE; CREATE SCHEMA cleanup_test")
    yield "cleanup_test"
    conn.execute("DROP SCHEMA IF EXISTS cleanup_test CASCADE")


def tables(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'import\\_staging\\_%%' ORDER BY 1",
        (schema,),
    ).fetchall()
    return [r[0] for r in rows]


def cleanup(conninfo: str, schema: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as aconn:
            return await import_cleanup(aconn, older_than=dt.timedelta(days=1), schema=schema)

    return asyncio.run(go())


def test_drops_staging_of_finished_runs_older_than_a_day(
    conn: psycopg.Connection[Any], conninfo: str, schema: str
) -> None:
    conn.execute(
        """
        CREATE TABLE cleanup_test.import_runs (
            id bigint PRIMARY KEY, status text NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz);
        INSERT INTO cleanup_test.import_runs VALUES
            (1, 'failed',    now() - interval '2 days', now() - interval '47 hours'),
            (2, 'failed',    now() - interval '1 hour', now() - interval '50 minutes'),
            (3, 'running',   now() - interval '2 days', NULL),
            (4, 'dry_run',   now() - interval '30 hours', now() - interval '30 hours'),
            (5, 'running',   now() - interval '1 hour', NULL),
            (6, 'succeeded', now() - interval '3 days', now() - interval '3 days');
        CREATE TABLE cleanup_test.import_staging_1 (phone text);
        CREATE TABLE cleanup_test.import_staging_2 (phone text);
        CREATE TABLE cleanup_test.import_staging_3 (phone text);
        CREATE TABLE cleanup_test.import_staging_4 (phone text);
        CREATE TABLE cleanup_test.import_staging_5 (phone text);
        CREATE TABLE cleanup_test.import_staging_99 (phone text);
        CREATE TABLE public.import_staging_1 (phone text);
        """
    )
    try:
        result = cleanup(conninfo, schema)
        assert result["import_runs_table"] is True
        assert result["runs_marked_failed"] == ["3"]
        assert result["staging_tables_dropped"] == ["import_staging_1", "import_staging_3", "import_staging_4"]
        assert tables(conn, schema) == ["import_staging_2", "import_staging_5", "import_staging_99"]
        statuses = dict(conn.execute("SELECT id, status FROM cleanup_test.import_runs").fetchall())
        assert statuses == {1: "failed", 2: "failed", 3: "failed", 4: "dry_run", 5: "running", 6: "succeeded"}
        assert tables(conn, "public") == ["import_staging_1"]  # another schema is not touched

        # a staging table without a run record is dated from when the cleanup first saw it
        conn.execute(
            "UPDATE import_cleanup_seen SET first_seen = now() - interval '25 hours' "
            "WHERE table_name = 'cleanup_test.import_staging_99'"
        )
        again = cleanup(conninfo, schema)
        assert again["staging_tables_dropped"] == ["import_staging_99"]
        assert again["runs_marked_failed"] == []
        assert tables(conn, schema) == ["import_staging_2", "import_staging_5"]
    finally:
        conn.execute("DROP TABLE IF EXISTS public.import_staging_1")


def test_copes_without_an_import_runs_table(conn: psycopg.Connection[Any], conninfo: str, schema: str) -> None:
    conn.execute("CREATE TABLE cleanup_test.import_staging_7 (phone text)")
    first = cleanup(conninfo, schema)
    assert first == {
        "import_runs_table": False,
        "runs_marked_failed": [],
        "staging_tables_dropped": [],
        "staging_tables_kept": ["import_staging_7"],
    }
    conn.execute("UPDATE import_cleanup_seen SET first_seen = now() - interval '2 days'")
    assert cleanup(conninfo, schema)["staging_tables_dropped"] == ["import_staging_7"]
    assert tables(conn, schema) == []
    assert conn.execute("SELECT count(*) FROM import_cleanup_seen").fetchone() == (0,)
