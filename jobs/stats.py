"""Basic statistics of the customer base, computed set-based in two statements and kept as
timestamped snapshots (served by `GET /stats` and `customers stats`).

1. One scan with grouping sets: the totals (customers, blocked, with email, confirmed email,
   loyalty enabled, and the fill count of every questionnaire field), customers created per day
   and per month.
2. One statement over the questionnaire fields in force (profile and meta read once each):
   every filled value (list items one by one) counted per field, ranked, the top values kept.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import orjson
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from customers import settings_store
from customers.db import AsyncConn
from customers.questionnaire_document import FieldSpec, QuestionnaireDocument

DAYS = 90
TOP_VALUES = 10
# free text, contact addresses and timestamps have no meaningful "most common value"
NO_TOP_VALUES = frozenset({"text", "email", "datetime"})
KEEP_SNAPSHOTS = dt.timedelta(days=14)

_EMPTY = "('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb)"

_COUNTS = """
SELECT grouping(month, created) AS level, month, created,
       count(*) AS total,
       count(*) FILTER (WHERE blocked) AS blocked,
       count(email) AS with_email,
       count(*) FILTER (WHERE email IS NOT NULL AND email_confirmed) AS confirmed_email,
       count(*) FILTER (WHERE loyalty_enabled) AS loyalty_enabled
       {fills}
  FROM (SELECT *, date_trunc('month', created)::date AS month FROM customers) c
 GROUP BY GROUPING SETS ((), (month), (created))
HAVING grouping(created) = 1 OR created > current_date - {days}"""

# jsonb_each yields only the keys a customer has: no row per (customer, field) pair to filter
_TOPS = """
WITH items AS (
    SELECT 'profile' AS part, e.key, coalesce(el.value, e.value) #>> '{{}}' AS val
      FROM customers c
     CROSS JOIN LATERAL jsonb_each(c.profile) e
      LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value END) el ON true
     WHERE e.key = ANY(%(profile_keys)s) AND e.value NOT IN {empty}
    UNION ALL
    SELECT 'meta', e.key, coalesce(el.value, e.value) #>> '{{}}'
      FROM customers c
     CROSS JOIN LATERAL jsonb_each(c.meta) e
      LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(e.value) = 'array' THEN e.value END) el ON true
     WHERE e.key = ANY(%(meta_keys)s) AND e.value NOT IN {empty}
),
grouped AS (SELECT part, key, val, count(*) AS n FROM items GROUP BY part, key, val),
counted AS (
    SELECT part, key, val, n,
           row_number() OVER (PARTITION BY part, key ORDER BY n DESC, val) AS rank,
           count(*) OVER (PARTITION BY part, key) AS distinct_values
      FROM grouped
)
SELECT part, key, val, n, distinct_values FROM counted WHERE rank <= %(top)s ORDER BY part, key, rank"""


def _fields(document: QuestionnaireDocument) -> list[tuple[str, FieldSpec]]:
    return [("profile", f) for f in document.fields] + [("meta", f) for f in document.meta_fields]


async def compute_stats(conn: AsyncConn, document: QuestionnaireDocument, top: int = TOP_VALUES) -> dict[str, Any]:
    """The statistics of the customers table for the questionnaire `document`."""
    fields = _fields(document)
    fills = sql.SQL("").join(
        sql.SQL(
            ", count(*) FILTER (WHERE {col} -> {key} IS NOT NULL AND {col} -> {key} NOT IN {empty}) AS {alias}"
        ).format(
            col=sql.Identifier(part),
            key=sql.Literal(spec.key),
            empty=sql.SQL(_EMPTY),
            alias=sql.Identifier(f"fill_{i}"),
        )
        for i, (part, spec) in enumerate(fields)
    )
    counts = sql.SQL(_COUNTS).format(fills=fills, days=sql.Literal(DAYS))
    cur = await conn.execute("SELECT current_date")
    today_row = await cur.fetchone()
    assert today_row is not None
    today: dt.date = today_row[0]
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(counts)
    rows = await cur.fetchall()

    totals = next((r for r in rows if r["level"] == 3), None)
    # grouping(month, created): 3 = the totals, 1 = one month, 2 = one day
    per_date = {r["created"]: r["total"] for r in rows if r["level"] == 2}
    per_month = sorted((r["month"], r["total"]) for r in rows if r["level"] == 1)

    ranked = [(part, spec) for part, spec in fields if spec.type not in NO_TOP_VALUES]
    tops: dict[tuple[str, str], list[dict[str, Any]]] = {}
    distinct: dict[tuple[str, str], int] = {}
    if ranked:
        cur = await conn.execute(
            sql.SQL(_TOPS).format(empty=sql.SQL(_EMPTY)),
            {
                "profile_keys": [s.key for p, s in ranked if p == "profile"],
                "meta_keys": [s.key for p, s in ranked if p == "meta"],
                "top": top,
            },
        )
        for part, key, value, count, n_distinct in await cur.fetchall():
            tops.setdefault((part, key), []).append({"value": value, "count": count})
            distinct[(part, key)] = n_distinct

    total = int(totals["total"]) if totals else 0
    return {
        "customers": {
            name: int(totals[name]) if totals else 0
            for name in ("total", "blocked", "with_email", "confirmed_email", "loyalty_enabled")
        },
        "created_per_day": [
            {"date": day, "count": int(per_date.get(day, 0))}
            for day in (today - dt.timedelta(days=back) for back in range(DAYS - 1, -1, -1))
        ],
        "created_per_month": [{"month": month.strftime("%Y-%m"), "count": int(n)} for month, n in per_month],
        "fields": [
            {
                "part": part,
                "key": spec.key,
                "label": spec.label,
                "type": spec.type,
                "filled": int(totals[f"fill_{i}"]) if totals else 0,
                "fill_rate": round(int(totals[f"fill_{i}"]) / total, 4) if totals and total else 0.0,
                "distinct_values": distinct.get((part, spec.key), 0) if spec.type not in NO_TOP_VALUES else None,
                "top_values": tops.get((part, spec.key), []) if spec.type not in NO_TOP_VALUES else None,
            }
            for i, (part, spec) in enumerate(fields)
        ],
    }


async def refresh(conn: AsyncConn) -> dict[str, Any]:
    """Compute the statistics for the settings in force and store them as a new snapshot."""
    started = time.perf_counter()
    current = await settings_store.get_settings(conn)
    document = QuestionnaireDocument.model_validate(current["document"])
    stats = await compute_stats(conn, document)
    stats["settings_version"] = current["version"]
    duration_ms = int((time.perf_counter() - started) * 1000)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "INSERT INTO stats_snapshots (duration_ms, stats) VALUES (%s, %s) RETURNING id, taken_at, duration_ms",
        (duration_ms, Jsonb(stats)),
    )
    row = await cur.fetchone()
    assert row is not None
    await conn.execute(
        "DELETE FROM stats_snapshots WHERE taken_at < now() - %s AND id <> %s", (KEEP_SNAPSHOTS, row["id"])
    )
    # the same shape as a stored snapshot read back (dates as ISO strings)
    return {**row, **orjson.loads(orjson.dumps(stats))}


async def latest(conn: AsyncConn) -> dict[str, Any] | None:
    """The newest snapshot, or None before the first refresh."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, taken_at, duration_ms, stats FROM stats_snapshots ORDER BY taken_at DESC, id DESC LIMIT 1"
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return {"id": row["id"], "taken_at": row["taken_at"], "duration_ms": row["duration_ms"], **row["stats"]}


async def current(conn: AsyncConn, fresh: bool = False) -> dict[str, Any]:
    """The newest snapshot; computed (and stored) now when `fresh` or when there is none yet."""
    if not fresh:
        snapshot = await latest(conn)
        if snapshot is not None:
            return snapshot
    return await refresh(conn)


def summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The short form recorded as the stats-refresh job's result."""
    return {
        "snapshot": snapshot["id"],
        "customers": snapshot["customers"]["total"],
        "fields": len(snapshot["fields"]),
        "duration_ms": snapshot["duration_ms"],
    }
