"""Migrations: applied once, recorded, safe when run twice and concurrently."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from customers import db, store


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


def _migrated_up_to(conninfo: str, name: str, version: int, tmp_path: Path) -> str:
    """A scratch database migrated with the migrations up to `version` only; its URI."""
    scratch = db.ensure_database(conninfo, name)
    older = tmp_path / f"sql-{version}"
    older.mkdir()
    for migration in db.available_migrations():
        if migration.version <= version:
            (older / f"{migration.version:03d}_{migration.name}.sql").write_text(migration.sql, encoding="utf-8")
    with psycopg.connect(scratch) as conn:
        db.migrate(conn, older)
    return scratch


def _drop(conninfo: str, name: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_source_id_integers_become_their_decimal_text(conninfo: str, tmp_path: Path) -> None:
    name = "customers_migrations_source_id"
    _drop(conninfo, name)
    scratch = _migrated_up_to(conninfo, name, 5, tmp_path)
    try:
        with psycopg.connect(scratch, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO customers (phone, source_id) VALUES ('79000000001', 42), ('79000000002', NULL),"
                " ('79000000003', -7), ('79000000004', 9223372036854775807)"
            )
            applied = db.migrate(conn)
            assert 6 in [m.version for m in applied]
            rows = conn.execute("SELECT phone, source_id, pg_typeof(source_id)::text FROM customers ORDER BY phone")
            assert rows.fetchall() == [
                ("79000000001", "42", "text"),
                ("79000000002", None, "text"),
                ("79000000003", "-7", "text"),
                ("79000000004", "9223372036854775807", "text"),
            ]
            conn.execute("INSERT INTO customers (phone, source_id) VALUES ('79000000005', %s)", ("x" * 255,))
            with pytest.raises(psycopg.errors.CheckViolation, match="customers_source_id_length"):
                conn.execute("INSERT INTO customers (phone, source_id) VALUES ('79000000006', %s)", ("x" * 256,))
    finally:
        _drop(conninfo, name)


def test_new_column_defaults_leave_existing_rows_as_they_are(conninfo: str, tmp_path: Path) -> None:
    name = "customers_migrations_defaults"
    _drop(conninfo, name)
    scratch = _migrated_up_to(conninfo, name, 6, tmp_path)
    try:
        with psycopg.connect(scratch, autocommit=True) as conn:
            flags = "loyalty_enabled, accept_tender_offer"
            # written under the earlier column defaults (loyalty on, tender offer off)
            conn.execute("INSERT INTO customers (phone) VALUES ('79000000001')")
            before = conn.execute(f"SELECT {flags}, updated_at, xmin::text FROM customers").fetchall()
            assert [row[:2] for row in before] == [(True, False)]
            applied = db.migrate(conn)
            assert 7 in [m.version for m in applied]
            # not rewritten: same values, same row version
            assert conn.execute(f"SELECT {flags}, updated_at, xmin::text FROM customers").fetchall() == before
            conn.execute("INSERT INTO customers (phone) VALUES ('79000000002')")
            row = conn.execute(f"SELECT {flags} FROM customers WHERE phone = '79000000002'").fetchone()
            assert row == (False, True)
    finally:
        _drop(conninfo, name)


# phones the format check must refuse and accept, as the regex of 001 did
_PHONES = [
    "7900000",
    "790000",
    "799999999999999",
    "7999999999999999",
    "0790000000",
    "79001234567",
    "7900123456a",
    "+79001234567",
    "7900 123456",
    "٣٣٣٣٣٣٣٣",
    "79001234567\n",
    "",
]


def test_bytewise_keys_keep_rows_rules_and_index_use(conninfo: str, tmp_path: Path) -> None:
    name = "customers_migrations_bytewise"
    _drop(conninfo, name)
    scratch = _migrated_up_to(conninfo, name, 7, tmp_path)
    try:
        with psycopg.connect(scratch, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO customers (phone, email) VALUES ('79000000002', 'иван@пример.рф'), ('79000000001', NULL),"
                " ('79000000010', 'a@example.com')"
            )
            rows = "SELECT id, phone, email, xmin::text FROM customers ORDER BY phone"
            before = conn.execute(rows).fetchall()
            applied = db.migrate(conn)
            assert 8 in [m.version for m in applied]
            assert conn.execute(rows).fetchall() == before
            # the check refuses what the regex refused, and nothing else
            for phone in _PHONES:
                regex = conn.execute("SELECT %s ~ '^[1-9][0-9]{6,14}$'", (phone,)).fetchone()
                assert regex is not None
                try:
                    with conn.transaction():
                        conn.execute("INSERT INTO customers (phone) VALUES (%s)", (phone,))
                        conn.execute("SELECT 1/0")  # roll back an accepted row
                except psycopg.errors.DivisionByZero:
                    accepted = True
                except psycopg.errors.CheckViolation as exc:
                    assert exc.diag.constraint_name == "customers_phone_format"
                    accepted = False
                assert accepted == regex[0], phone
            # lower() still folds every letter, not only ASCII: the unique index still refuses
            with pytest.raises(psycopg.errors.UniqueViolation, match="customers_email_key"):
                conn.execute("INSERT INTO customers (phone, email) VALUES ('79000000003', 'ИВАН@пример.рф')")
            # the lookups spell the index's expression and are served by the indexes
            conn.execute("SET enable_seqscan = off")
            for statement, value in (
                (store._BY_EMAIL, "иван@пример.рф"),
                (store._BY_EMAIL_JSON, "иван@пример.рф"),
                (store._MANY_BY_EMAIL_JSON, ["иван@пример.рф"]),
                (store._BY_PHONE, "79000000002"),
                (store._MANY_BY_PHONE_JSON, ["79000000002"]),
            ):
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + statement, (value,)))
                # an index condition: the email index's partial predicate alone would still name it
                assert "Index Cond" in plan and ("customers_email_key" in plan or "customers_phone_key" in plan), plan
                rows = conn.execute(statement, (value,)).fetchall()
                assert len(rows) == 1
    finally:
        _drop(conninfo, name)
