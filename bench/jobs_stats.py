"""Benchmark of the stats-refresh computation against two references in the same run.

    python bench/jobs_stats.py [--customers 200000] [--repeat 3]

Starts a private embedded PostgreSQL in a temporary directory, fills `customers` with generated
profiles (one INSERT ... SELECT), then times, best of `--repeat`:
- reference "scan": one sequential scan that reads every profile and meta once (the floor);
- reference "per field": the obvious alternative, two queries per questionnaire field (fill count,
  top values), 34 scans for the default questionnaire;
- `jobs.stats.compute_stats`: the two set-based statements of the job.
Prints absolute seconds, the data size, and the ratios to both references.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from customers import db
from customers.questionnaire_document import default_document
from jobs.stats import compute_stats

FILL = """
INSERT INTO customers (phone, email, email_confirmed, blocked, loyalty_enabled, created, profile, meta)
SELECT (79000000000 + n)::text,
       CASE WHEN n %% 3 <> 0 THEN 'user' || n || '@example.com' END,
       n %% 5 = 0, n %% 50 = 0, n %% 7 <> 0,
       current_date - (n %% 700)::int,
       jsonb_strip_nulls(jsonb_build_object(
           'first_name', (ARRAY['Иван','Мария','Пётр','Анна','Олег','Елена'])[1 + n %% 6],
           'last_name', 'Фамилия' || (n %% 5000),
           'birth_date', (date '1950-01-01' + (n %% 20000)::int)::text,
           'gender', CASE WHEN n %% 4 = 0 THEN NULL WHEN n %% 2 = 0 THEN 'male' ELSE 'female' END,
           'city', (ARRAY['Москва','Казань','Тверь','Омск','Сочи','Пермь','Томск'])[1 + n %% 7],
           'children_count', CASE WHEN n %% 3 = 0 THEN n %% 4 END,
           'marital_status', (ARRAY['single','married','divorced','widowed'])[1 + n %% 4],
           'interests', to_jsonb((ARRAY['sport','travel','books','music','pets'])[1:1 + n %% 4]),
           'shoe_size', 36 + n %% 10,
           'car_owner', n %% 2 = 0,
           'about', CASE WHEN n %% 10 = 0 THEN 'Немного о себе, номер ' || n END)),
       jsonb_build_object('legacy_id', 'L' || n, 'registration_channel', (ARRAY['store','web','app'])[1 + n %% 3])
  FROM generate_series(1::bigint, %s::bigint) n"""

_EMPTY = "('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb)"


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        base = db.start_embedded(Path(tmp) / "pg", delete_on_exit=True)
        conninfo = db.ensure_database(base, "bench")
        document = default_document()
        fields = [("profile", f) for f in document.fields] + [("meta", f) for f in document.meta_fields]
        with psycopg.connect(conninfo, autocommit=True) as conn:
            db.migrate(conn)
            started = time.perf_counter()
            conn.execute(FILL, (args.customers,))
            conn.execute("VACUUM ANALYZE customers")
            load = time.perf_counter() - started
            size = conn.execute("SELECT pg_size_pretty(pg_table_size('customers'))").fetchone()

            def scan() -> None:
                conn.execute(
                    "SELECT count(*), sum(octet_length(profile::text) + octet_length(meta::text)) FROM customers"
                ).fetchone()

            empty = sql.SQL(_EMPTY)

            def per_field() -> None:
                for part, spec in fields:
                    value = sql.SQL("{} -> {}").format(sql.Identifier(part), sql.Literal(spec.key))
                    conn.execute(
                        sql.SQL("SELECT count(*) FROM customers WHERE {v} IS NOT NULL AND {v} NOT IN {empty}").format(
                            v=value, empty=empty
                        )
                    ).fetchone()
                    conn.execute(
                        sql.SQL(
                            "SELECT coalesce(e.value, {v}) #>> '{{}}' AS val, count(*) FROM customers "
                            "LEFT JOIN LATERAL jsonb_array_elements("
                            "CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} END) e ON true "
                            "WHERE {v} IS NOT NULL AND {v} NOT IN {empty} GROUP BY 1 ORDER BY 2 DESC LIMIT 10"
                        ).format(v=value, empty=empty)
                    ).fetchall()

            async def job_once() -> None:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as aconn:
                    await compute_stats(aconn, document)

            t_scan = best(scan, args.repeat)
            t_fields = best(per_field, args.repeat)
            t_job = best(lambda: asyncio.run(job_once()), args.repeat)

        print(
            f"customers: {args.customers:,} rows, table {size[0] if size else '?'} (generated in {load:.1f} s); "
            f"questionnaire: {len(fields)} fields; best of {args.repeat}"
        )
        print(f"reference scan (read every profile once):    {t_scan:8.3f} s")
        print(f"reference per field (2 queries x {len(fields)} fields): {t_fields:8.3f} s")
        print(f"stats-refresh compute_stats (2 statements):  {t_job:8.3f} s")
        print(f"ratio job / scan:      {t_job / t_scan:6.2f}")
        print(f"ratio job / per field: {t_job / t_fields:6.2f}")


if __name__ == "__main__":
    main()
