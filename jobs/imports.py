"""Cleanup after bulk imports: staging tables left by failed runs, runs stuck in 'running'.

The import names its staging tables `import_staging_<run id>` and records runs in
`import_runs` (status 'running' | 'succeeded' | 'failed' | 'dry_run', started_at,
finished_at). Either may be absent (an installation that never imported): the cleanup copes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psycopg import sql

from customers.db import AsyncConn
from customers.import_runs import STAGING_PREFIX

RUNS_TABLE = "import_runs"

_STAGING_TABLES = r"""
SELECT c.relname::text
  FROM pg_class c
 WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) AND c.relkind IN ('r', 'p')
   AND starts_with(c.relname::text, %(prefix)s)"""

# A staging table goes when its run is over and started long enough ago; a table without a run
# record to date it goes that long after the cleanup first saw it.
_EXPIRED = """
SELECT s.name
  FROM unnest(%(tables)s::text[]) AS s(name)
  JOIN import_cleanup_seen seen ON seen.table_name = %(schema)s || '.' || s.name
  {runs_join}
 WHERE {condition}"""
_WITH_RUNS_JOIN = "LEFT JOIN {runs} r ON r.id::text = substr(s.name, length(%(prefix)s) + 1)"
_WITH_RUNS = (
    "CASE WHEN r.id IS NULL THEN seen.first_seen < now() - %(age)s "
    "ELSE r.status <> 'running' AND r.started_at < now() - %(age)s END"
)
_WITHOUT_RUNS = "seen.first_seen < now() - %(age)s"


async def import_cleanup(
    conn: AsyncConn, *, older_than: dt.timedelta = dt.timedelta(days=1), schema: str | None = None
) -> dict[str, Any]:
    """Mark import runs stuck in 'running' for longer than `older_than` failed, and drop the
    staging tables of runs that are over and started longer ago than that."""
    async with conn.transaction():
        # never wait behind an import that holds its staging table: the next run retries
        await conn.execute("SET LOCAL lock_timeout = '5s'")
        if schema is None:
            cur = await conn.execute("SELECT current_schema()")
            row = await cur.fetchone()
            assert row is not None
            schema = str(row[0])
        cur = await conn.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema, RUNS_TABLE))
        found = await cur.fetchone()
        runs = sql.Identifier(schema, RUNS_TABLE) if found and found[0] is not None else None

        marked: list[str] = []
        if runs is not None:
            cur = await conn.execute(
                sql.SQL(
                    "UPDATE {runs} SET status = 'failed', finished_at = coalesce(finished_at, now()) "
                    "WHERE status = 'running' AND started_at < now() - %s RETURNING id::text"
                ).format(runs=runs),
                (older_than,),
            )
            marked = sorted(str(r[0]) for r in await cur.fetchall())

        cur = await conn.execute(_STAGING_TABLES, {"schema": schema, "prefix": STAGING_PREFIX})
        tables = [r[0] for r in await cur.fetchall()]
        qualified = [f"{schema}.{t}" for t in tables]
        # forget tables that are gone, remember the new ones
        await conn.execute(
            "DELETE FROM import_cleanup_seen WHERE table_name LIKE %s || '.%%' AND NOT table_name = ANY(%s)",
            (schema, qualified),
        )
        await conn.execute(
            "INSERT INTO import_cleanup_seen (table_name) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
            (qualified,),
        )
        if runs is not None:
            query = sql.SQL(_EXPIRED).format(
                runs_join=sql.SQL(_WITH_RUNS_JOIN).format(runs=runs), condition=sql.SQL(_WITH_RUNS)
            )
        else:
            query = sql.SQL(_EXPIRED).format(runs_join=sql.SQL(""), condition=sql.SQL(_WITHOUT_RUNS))
        cur = await conn.execute(
            query, {"tables": tables, "schema": schema, "age": older_than, "prefix": STAGING_PREFIX}
        )
        expired = sorted(r[0] for r in await cur.fetchall())
        if expired:
            await conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(
                    sql.SQL(", ").join(sql.Identifier(schema, t) for t in expired)
                )
            )
            await conn.execute(
                "DELETE FROM import_cleanup_seen WHERE table_name = ANY(%s)", ([f"{schema}.{t}" for t in expired],)
            )
    return {
        "import_runs_table": runs is not None,
        "runs_marked_failed": marked,
        "staging_tables_dropped": expired,
        "staging_tables_kept": sorted(set(tables) - set(expired)),
    }
