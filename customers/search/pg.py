"""`find` served by PostgreSQL: the same plan over the same normalised values (see `schema`),
slower than the index but exact. Used when search is off or Redis cannot answer."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from customers.db import AsyncConn, translated
from customers.search.plan import QueryPlan
from customers.search.sql_query import order_by, where_clause
from customers.store import COLUMNS


async def find_pg(conn: AsyncConn, plan: QueryPlan) -> tuple[int, list[dict[str, Any]]]:
    """(total, the requested page of full customer records)."""
    where, params = where_clause(plan)
    async with translated:
        cur = await conn.execute(f"SELECT count(*) FROM customers WHERE {where}", params)
        row = await cur.fetchone()
        total = int(row[0]) if row else 0
        if plan.limit == 0 or plan.offset >= total:
            return total, []
        page = conn.cursor(row_factory=dict_row)
        await page.execute(
            f"SELECT {COLUMNS} FROM customers WHERE {where} ORDER BY {order_by(plan)} OFFSET %s LIMIT %s",
            [*params, plan.offset, plan.limit],
        )
        return total, await page.fetchall()


async def fetch_ordered(conn: AsyncConn, ids: list[int]) -> list[dict[str, Any]]:
    """Full records of `ids`, in that order (ids without a customer are left out)."""
    if not ids:
        return []
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT {COLUMNS} FROM customers WHERE id = ANY(%s)", (ids,))
        rows = {r["id"]: r for r in await cur.fetchall()}
    return [rows[i] for i in ids if i in rows]


async def sample_sort_values(conn: AsyncConn, plan: QueryPlan, pages: int, min_rows: int) -> tuple[list[float], float]:
    """The sort values of the matching customers on about `pages` random pages of the table
    (`TABLESAMPLE SYSTEM`), in the plan's order, and the fraction of the table sampled: an
    estimate of where a deep page's values lie. Nothing when the table holds fewer than
    `min_rows` customers by the planner's statistics."""
    where, params = where_clause(plan)
    direction = "DESC" if plan.desc else "ASC"
    async with translated:
        cur = await conn.execute(
            "SELECT least(100, %s * 100.0 / "
            "greatest(pg_relation_size('customers') / current_setting('block_size')::int, 1)),"
            " reltuples FROM pg_class WHERE oid = 'customers'::regclass",
            [pages],
        )
        row = await cur.fetchone()
        percent = float(row[0]) if row else 100.0
        if row is not None and 0 <= row[1] < min_rows:  # -1: never analysed, unknown
            return [], percent / 100
        cur = await conn.execute(
            f"SELECT {plan.sort.sort_sql()} FROM customers TABLESAMPLE SYSTEM (%s) "
            f"WHERE {where} ORDER BY 1 {direction}",
            [percent, *params],
        )
        return [float(r[0]) for r in await cur.fetchall()], percent / 100
