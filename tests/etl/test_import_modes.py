"""Modes, duplicates, email collisions, dry runs, run records, export round trip, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from click.testing import CliRunner
from etl_support import customers, rejects_of

from cli.main import main
from customers.config import Settings
from etl.export import export_customers
from etl.report import Report

Write = Callable[..., Path]
Run = Callable[..., Report]
HEADER = "phone,email,first_name,city,children_count"


def counts(report: Report) -> tuple[int, int, int, int, int, int]:
    c = report.counts
    return c.read, c.inserted, c.updated, c.unchanged, c.rejected, c.duplicates


def test_insert_twice_changes_nothing(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    path = write("a.csv", f"{HEADER}\n89123456781,a@x.ru,Анна,Москва,1\n89123456782,,Борис,Казань,\n")
    assert counts(run(path)) == (2, 2, 0, 0, 0, 0)
    before = pg.execute("SELECT id, updated_at FROM customers ORDER BY id").fetchall()
    assert counts(run(path)) == (2, 0, 0, 2, 0, 0)
    assert pg.execute("SELECT id, updated_at FROM customers ORDER BY id").fetchall() == before


def test_upsert_updates_changed_rows_and_merges_profiles(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    run(write("a.csv", f"{HEADER}\n89123456781,a@x.ru,Анна,Москва,1\n89123456782,,Борис,Казань,\n"))
    update = write("b.csv", "phone,city,children_count\n89123456781,Москва,1\n89123456782,Омск,\n89123456783,Уфа,3\n")
    report = run(update, mode="upsert")
    assert counts(report) == (3, 1, 1, 1, 0, 0)
    stored = customers(pg)
    assert stored["79123456782"]["profile"] == {"first_name": "Борис", "city": "Омск"}
    assert stored["79123456781"]["email"] == "a@x.ru"
    assert stored["79123456783"]["profile"] == {"city": "Уфа", "children_count": 3}
    assert report.touched == 2 and report.changed_since is not None and report.committed_at is not None
    changed = pg.execute(
        "SELECT phone FROM customers WHERE updated_at >= %s ORDER BY phone", (report.changed_since,)
    ).fetchall()
    assert [p for (p,) in changed] == ["79123456782", "79123456783"]


def test_update_touches_existing_customers_only(
    run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    run(write("a.csv", f"{HEADER}\n89123456781,,Анна,Москва,1\n"))
    report = run(write("b.csv", "phone,city\n89123456781,Тверь\n89123456789,Уфа\n"), mode="update")
    assert counts(report) == (2, 0, 1, 0, 1, 0)
    assert rejects_of(tmp_path / "rejects.csv") == [(3, "phone", "CUSTOMER_NOT_FOUND")]
    assert list(customers(pg)) == ["79123456781"]


@pytest.mark.parametrize(
    ("policy", "kept", "dups", "rejected"),
    [("first", "Первый", 1, 0), ("last", "Второй", 1, 0), ("reject", None, 0, 2)],
)
def test_duplicate_phones_in_the_file(
    run: Run, write: Write, pg: psycopg.Connection[Any], policy: str, kept: str | None, dups: int, rejected: int
) -> None:
    text = f"{HEADER}\n+7 912 345-67-81,,Первый,,\n89123456782,,Другой,,\n8 (912) 345-67-81,,Второй,,\n"
    report = run(write("d.csv", text), on_duplicate=policy)
    assert (report.counts.duplicates, report.counts.rejected, report.counts.inserted) == (
        dups,
        rejected,
        1 if kept is None else 2,
    )
    stored = customers(pg)
    assert (stored["79123456781"]["profile"]["first_name"] if "79123456781" in stored else None) == kept


@pytest.mark.parametrize("sessions", [1, 3])
def test_repeats_across_chunks_and_stored_phones_sorted_out_chunk_by_chunk(
    run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path, sessions: int
) -> None:
    # chunks of two rows: a phone of an earlier chunk, a phone stored before the load (first
    # time: unchanged, then a repeat), an email of an earlier chunk, and new rows after each
    run(write("a.csv", f"{HEADER}\n89123456780,stored@x.ru,Старый,,\n"))
    rows = [
        "89123456781,,Анна,,",  # 2
        "89123456782,b@x.ru,Борис,,",  # 3
        "89123456783,,Вера,,",  # 4
        "89123456781,,Анна снова,,",  # 5: repeats row 2 (another chunk)
        "89123456780,,Старый снова,,",  # 6: stored before the load: unchanged
        "89123456784,,Глеб,,",  # 7
        "89123456780,,Старый в третий раз,,",  # 8: repeats row 6
        "89123456785,B@x.ru,Дина,,",  # 9: the email of row 3
        "89123456786,,Егор,,",  # 10
        "89123456787,,Жанна,,",  # 11
        # 12: repeats row 9, whose phone customers does not hold, in a chunk that goes in
        # optimistically again (only the copying session's flag sends it to a lookup)
        "89123456785,,Дина снова,,",
        "89123456788,,Зоя,,",  # 13
    ]
    # several copying sessions commit chunks out of order; the merge still takes them in file order
    report = run(write("b.csv", HEADER + "\n" + "\n".join(rows) + "\n"), batch_size=2, sessions=sessions)
    assert counts(report) == (12, 7, 0, 1, 1, 3)
    assert rejects_of(tmp_path / "rejects.csv") == [
        (5, "phone", "DUPLICATE_PHONE"),
        (8, "phone", "DUPLICATE_PHONE"),
        (9, "email", "EMAIL_EXISTS"),
        (12, "phone", "DUPLICATE_PHONE"),
    ]
    stored = customers(pg)
    assert {phone: row["profile"]["first_name"] for phone, row in stored.items()} == {
        "79123456780": "Старый",
        "79123456781": "Анна",
        "79123456782": "Борис",
        "79123456783": "Вера",
        "79123456784": "Глеб",
        "79123456786": "Егор",
        "79123456787": "Жанна",
        "79123456788": "Зоя",
    }


def test_email_collisions_are_rejected_rows(
    run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    run(write("a.csv", f"{HEADER}\n89123456781,taken@x.ru,Анна,,\n"))
    text = (
        f"{HEADER}\n89123456782,TAKEN@x.ru,Борис,,\n89123456783,same@x.ru,Вера,,\n"
        "89123456784,same@x.ru,Глеб,,\n89123456785,,Дина,,\n"
    )
    report = run(write("b.csv", text))
    assert counts(report) == (4, 2, 0, 0, 2, 0)
    assert rejects_of(tmp_path / "rejects.csv") == [(2, "email", "EMAIL_EXISTS"), (4, "email", "EMAIL_EXISTS")]


def test_dry_run_writes_nothing_but_reports(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    report = run(write("a.csv", f"{HEADER}\n89123456781,,Анна,,\n12,,Плохой,,\n"), dry_run=True)
    assert report.status == "dry_run" and counts(report) == (2, 1, 0, 0, 1, 0)
    assert customers(pg) == {}
    run_row = pg.execute(
        "SELECT status, rows_read, inserted, rejected, report->'counts'->>'read' FROM import_runs"
    ).fetchall()
    assert run_row == [("dry_run", 2, 1, 1, "2")]


def test_run_record_accounts_for_every_row(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    path = write("a.csv", f"{HEADER}\n89123456781,,Анна,,\n89123456781,,Анна,,\nbad,,x,,\n")
    report = run(path)
    row = pg.execute(
        "SELECT file, size, checksum, format, mode, status, rows_read, inserted, updated, unchanged, rejected, "
        "duplicates, "
        "finished_at >= started_at, committed_at IS NOT NULL FROM import_runs WHERE id = %s",
        (report.run_id,),
    ).fetchone()
    import hashlib

    assert row == (
        str(path.resolve()),
        path.stat().st_size,
        hashlib.sha256(path.read_bytes()).hexdigest(),
        "csv",
        "insert",
        "succeeded",
        3,
        1,
        0,
        0,
        1,
        1,
        True,
        True,
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_imports_back_to_the_same_data(
    run: Run, pg: psycopg.Connection[Any], conninfo: str, tmp_path: Path, fmt: str
) -> None:
    sample = Path(__file__).resolve().parents[2] / "data" / "samples" / "customers.csv"
    run(sample)
    pg.execute("UPDATE customers SET blocked = true, source_id = (id * 10)::text WHERE id % 7 = 0")
    # source_id is text: commas, quotes and Cyrillic survive the round trip
    pg.execute("""UPDATE customers SET source_id = 'Склад №' || id || ' «Центральный», "А"' WHERE id % 7 = 1""")
    before = customers(pg)
    out = tmp_path / f"export.{fmt}"
    result = export_customers(conninfo, out)
    assert result.rows == len(before) == 288
    pg.execute("TRUNCATE customers CASCADE")
    report = run(out)
    assert report.counts.inserted == 288 and report.counts.rejected == 0
    assert customers(pg) == before
    since = export_customers(conninfo, tmp_path / "none.csv", since=dt.date.today() + dt.timedelta(days=1))
    assert since.rows == 0


def test_cli_import_json_and_errors(settings: Settings, clean_db: None, write: Write, tmp_path: Path) -> None:
    runner = CliRunner()
    path = write("a.csv", f"{HEADER}\n89123456781,,Анна,,\n1,,x,,\n")
    rejects = tmp_path / "r.csv"
    result = runner.invoke(main, ["import", str(path), "--json", "--rejects", str(rejects)], obj={"settings": settings})
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["counts"] == {"read": 2, "inserted": 1, "updated": 0, "unchanged": 0, "rejected": 1, "duplicates": 0}
    assert report["status"] == "succeeded" and rejects.read_text().startswith("row,column,code,value,message")
    result = runner.invoke(main, ["import", str(tmp_path / "missing.csv")], obj={"settings": settings})
    assert result.exit_code == 1 and "no such file" in result.stderr
    mapping = write("map.json", json.dumps({"Телефон": "phone"}))
    result = runner.invoke(
        main,
        ["import", str(write("ru.csv", "Телефон\n89123456782\n")), "--mapping", str(mapping)],
        obj={"settings": settings},
    )
    assert result.exit_code == 0 and "inserted 1" in result.stdout
    out = tmp_path / "e.csv"
    result = runner.invoke(main, ["export", str(out)], obj={"settings": settings})
    assert result.exit_code == 0 and "2 customers written" in result.stdout


def test_cli_samples_generate(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["samples", "generate", "40", str(tmp_path / "s.parquet"), "--dirty", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["rows"] == 40 and len(data["dirty"]) == 4 and (tmp_path / "s.parquet").stat().st_size > 0
