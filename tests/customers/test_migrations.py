"""Migrations: applied once, recorded, safe when run twice and concurrently."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from customers import db


def _schema(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        """SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = current_schema() ORDER BY 1, 2"""
    ).fetchall()


def test_twice_and_concurrently_give_one_schema(conninfo: str) -> None:
    name = "customers_migrations_test"
    scratch = db.ensure_database(conninfo, name)
    try:
        results: list[list[db.Migration]] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with psycopg.connect(scratch) as conn:
                    results.append(db.migrate(conn))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        available = db.available_migrations()
        applied_counts = sorted(len(r) for r in results)
        assert applied_counts == [0, 0, 0, len(available)]

        with psycopg.connect(scratch) as conn:
            before = _schema(conn)
            assert db.migrate(conn) == []
            assert _schema(conn) == before
            recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
            assert [r[0] for r in recorded] == [m.version for m in available]
            status = db.migration_status(conn)
            assert all(m["applied_at"] is not None for m in status)
            indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'customers'")}
            assert {"idx_customers_id", "customers_phone_key", "customers_email_key"} <= indexes
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
