"""What each write statement costs PostgreSQL and the driver, one statement at a time.

`run.py` measures whole services under wrk; this isolates the statements. One connection sends
`--count` writes in a row, each variant in turn, `--rounds` times (medians are printed), and the
backend's CPU time is read from /proc before and after: PostgreSQL's CPU per write without the
HTTP layers, the other connections and the scheduling of a loaded machine.

Variants, on the seeded customers of `run.py` (the same embedded PostgreSQL under `--data-dir`):

  update                     our partial update (`customers.customer_writes`), a profile key and
                             one attribute, as the write mix sends them
  update, no stored-form     the same statement with its stored-form check replaced by `true`
  update, no JSON answer     the same statement answering NULL instead of the customer's JSON
  update, reference          the reference service's bare UPDATE (`reference.py`)
  create                     our create
  create, reference          the reference service's INSERT ... ON CONFLICT DO NOTHING
  create, N per statement    N creates in one statement, as a worker makes concurrent creates
                             (`customer_writes.create_customers_json`)
  update, N per statement    N updates in one statement, likewise (`update_customers_json`)
                             the batches run as the service runs them, planned once
                             (`set_up_batch_connection`); "planned each time": PostgreSQL's default

Usage:

    .venv/bin/python -m bench.http.statements [--rows 1000000] [--count 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.types.json import Jsonb

from bench.http.run import ROOT, seed
from customers import customer_writes, db
from customers.config import load_settings
from customers.questionnaire import Questionnaire
from customers.stored_form import stored_form

# creates take phones no seeded row and no write-mix run uses (7980... to 7989...)
CREATE_BASE = 79800000000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--count", type=int, default=3000, help="writes per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench" / "http")
    parser.add_argument("--keep-db", action="store_true", help="leave the embedded PostgreSQL running")
    args = parser.parse_args()

    settings = load_settings(customers_data_dir=args.data_dir)
    target = db.resolve(settings)
    if not settings.embedded:
        raise SystemExit("the backend's CPU is read from /proc: run against the embedded PostgreSQL")
    try:
        with db.connect(target.conninfo) as conn:
            db.migrate(conn)
        seed(target.conninfo, args.rows)
        os.environ.setdefault("BENCH_CONNINFO", target.conninfo)
        from bench.http import reference  # its pool is made at import (not opened)

        with psycopg.connect(target.conninfo, autocommit=True, prepare_threshold=0) as conn:
            _measure(conn, reference, args.rows, args.count, args.rounds)
    finally:
        if not args.keep_db:
            db.stop_embedded(args.data_dir.resolve() / "pg")


def _measure(conn: psycopg.Connection[Any], reference: Any, rows: int, count: int, rounds: int) -> None:
    backend = psutil.Process(conn.info.backend_pid)
    q = Questionnaire.default()
    update = customer_writes._update_sql(q, "json")
    create = customer_writes._CREATE["json"]
    answer = customer_writes._RETURNING["json"]
    no_form = update.text.replace(stored_form(q.document.fields, "new_profile"), "true")
    no_json = update.text.replace(answer, "id, NULL::text AS document")
    if no_form == update.text or no_json == update.text:
        raise SystemExit("the update statement changed: this benchmark's variants no longer apply")
    phones = iter(range(CREATE_BASE, CREATE_BASE + 10_000_000))
    conn.execute("DELETE FROM customers WHERE phone LIKE '798%'")

    def update_params(i: int) -> dict[str, Any]:
        return {
            **dict.fromkeys(update.names),
            "id": 1 + (i * 7919) % rows,
            "subscriptions_removed": [],
            "subscriptions_set": Jsonb({}),
            "loyalty_enabled": i % 2 == 0,
            "profile": Jsonb({"children_count": i % 7}),
            "profile_removed": [],
            "checked": False,
            "q_version": 0,
        }

    def profile(i: int) -> Jsonb:
        return Jsonb({"first_name": "Bench", "city": "Moscow", "children_count": i % 5})

    def ours(text: str, params: Callable[[int], dict[str, Any]], names: tuple[str, ...]) -> Callable[[int], None]:
        cursor = psycopg.RawCursor(conn)

        def run(i: int) -> None:
            values = params(i)
            cursor.execute(text, [values[name] for name in names])
            found = cursor.fetchone()
            if found is None or found[4] is None:
                raise SystemExit(f"a write wrote nothing: {found}")

        return run

    def create_params(i: int) -> dict[str, Any]:
        return {
            **dict.fromkeys(create.names),
            "phone": str(next(phones)),
            "email_confirmed": False,
            "blocked": False,
            "profile": profile(i),
            "meta": Jsonb({}),
            "subscriptions": Jsonb({}),
            "loyalty_enabled": True,
            "accept_tender_offer": False,
            "prioritize_sms_verification": False,
            "q_version": 0,
        }

    def reference_update(i: int) -> None:
        params = {
            "id": 1 + (i * 7919) % rows,
            "loyalty_enabled": i % 2 == 0,
            "profile": Jsonb({"children_count": i % 7}),
        }
        if conn.execute(reference._UPDATE, params).fetchone() is None:
            raise SystemExit("the reference update wrote nothing")

    def reference_create(i: int) -> None:
        params = {
            "phone": str(next(phones)),
            "email": None,
            "profile": profile(i),
            "meta": Jsonb({}),
            "subscriptions": Jsonb({}),
        }
        if conn.execute(reference._CREATE, params).fetchone() is None:
            raise SystemExit("the reference create wrote nothing")

    create_many = customer_writes._CREATE_MANY["json"]
    update_many = customer_writes._update_many_sql(q, "json")

    def batched(
        statement: customer_writes._Statement, params: Callable[[int], dict[str, Any]], size: int
    ) -> tuple[Callable[[int], None], int]:
        """`size` writes a statement: element k of each array parameter is `params(i * size + k)`'s."""
        cursor = psycopg.RawCursor(conn)
        columns = customer_writes._CREATE_ARRAYS if statement is create_many else customer_writes._UPDATE_ARRAYS

        def run(i: int) -> None:
            each = [params(i * size + k) for k in range(size)]
            values = customer_writes._array_parameters([{c: one.get(c) for c in columns} for one in each], columns)
            values.update(q_version=0, q_stamp=None)
            if statement is create_many:
                values["blocked"] = False  # one value for the whole insert
            cursor.execute(statement.text, [values[name] for name in statement.names])
            if sum(found[4] is not None for found in cursor.fetchall()) != size:
                raise SystemExit("a batch wrote less than its rows")

        return run, size

    def update_row(i: int) -> dict[str, Any]:
        return {
            "id": 1 + (i * 7919) % rows,
            "loyalty_enabled": i % 2 == 0,
            "profile": Jsonb({"children_count": i % 7}),
            "subscriptions": Jsonb({}),
        }

    variants: dict[str, tuple[Callable[[int], None], int]] = {
        "update": (ours(update.text, update_params, update.names), 1),
        "update, no stored-form": (ours(no_form, update_params, update.names), 1),
        "update, no JSON answer": (ours(no_json, update_params, update.names), 1),
        "update, reference": (reference_update, 1),
        "create": (ours(create.text, create_params, create.names), 1),
        "create, reference": (reference_create, 1),
        **{f"create, {n} per statement": batched(create_many, create_params, n) for n in (2, 4, 8)},
        **{f"update, {n} per statement": batched(update_many, update_row, n) for n in (2, 4, 8)},
        "update, 2 per statement, planned each time": batched(update_many, update_row, 2),
    }
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    try:
        for _ in range(rounds):
            for name, (run, per_call) in variants.items():
                # the batches as the service runs them: on connections planning them once
                batch = "per statement" in name and "planned each time" not in name
                conn.execute(customer_writes._BATCH_SESSION if batch else "RESET ALL")
                calls = max(1, count // per_call)
                server, client, wall = _cpu(backend), time.process_time(), time.perf_counter()
                for i in range(calls):
                    run(i)
                writes = calls * per_call
                results[name].append(
                    (
                        (_cpu(backend) - server) / writes * 1e6,
                        (time.process_time() - client) / writes * 1e6,
                        (time.perf_counter() - wall) / writes * 1e6,
                    )
                )
    finally:
        conn.execute("DELETE FROM customers WHERE phone LIKE '798%'")
    print(f"one connection, {count:,} writes per variant and round, medians of {rounds} rounds (µs per write)")
    width = max(map(len, results))
    print(f"{'variant':{width}s} {'PostgreSQL CPU':>15s} {'driver CPU':>11s} {'wall':>8s}")
    for name, figures in results.items():
        server, client, wall = (statistics.median(f[k] for f in figures) for k in range(3))
        print(f"{name:{width}s} {server:15.1f} {client:11.1f} {wall:8.1f}")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


if __name__ == "__main__":
    main()
