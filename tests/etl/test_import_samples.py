"""The shipped sample files load exactly their documented good rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from etl_support import customers, rejects_of

from etl.report import Report
from etl.samples import build, generate
from tests.factories import add_customer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "data" / "samples"


def documented_bad_rows() -> list[tuple[int, str, str]]:
    """(row, column, code) from the table in data/samples/README.md."""
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    return [(int(r), c, k) for r, c, k in re.findall(r"^\| (\d+) \| `([^`]+)` \| `([A-Z_]+)` \|", text, re.M)]


def test_sample_csv_loads_exactly_the_documented_good_rows(
    run: Callable[..., Report], pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    bad = documented_bad_rows()
    assert len(bad) == 12
    report = run(SAMPLES / "customers.csv")
    assert sorted(rejects_of(tmp_path / "rejects.csv")) == sorted(bad)
    source = pl.read_csv(SAMPLES / "customers.csv", infer_schema=False).with_row_index("row", offset=2)
    bad_rows = {r for r, _, _ in bad}
    good = source.filter(~pl.col("row").is_in(list(bad_rows)))
    stored = customers(pg)
    assert len(stored) == good.height == 288
    assert report.counts.inserted == 288 and report.counts.rejected == 11 and report.counts.duplicates == 1
    assert {m["meta"]["legacy_id"] for m in stored.values()} == set(good.get_column("meta.legacy_id").to_list())
    formula = next(c for c in stored.values() if c["meta"]["legacy_id"].endswith("0000003"))
    assert formula["profile"]["favourite_store"] == "=cmd|' /C calc'!A0"


def test_sample_parquet_loads_the_same_customers(
    run: Callable[..., Report], pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    run(SAMPLES / "customers.csv")
    from_csv = customers(pg)
    pg.execute("TRUNCATE customers CASCADE")
    report = run(SAMPLES / "customers.parquet")
    assert sorted(rejects_of(tmp_path / "rejects.csv")) == sorted((r - 1, c, k) for r, c, k in documented_bad_rows())
    assert report.counts.inserted == 288
    assert customers(pg) == from_csv


def test_samples_are_deterministic_and_match_the_shipped_files(tmp_path: Path) -> None:
    again = generate(300, tmp_path / "c.csv", dirty=0.04, seed=7)
    assert (tmp_path / "c.csv").read_bytes() == (SAMPLES / "customers.csv").read_bytes()
    assert [(d.row, d.column, d.code) for d in again] == documented_bad_rows()
    other, _ = build(300, dirty=0.04, seed=8)
    assert not other.equals(pl.read_csv(SAMPLES / "customers.csv", infer_schema=False))
    clean, defects = build(50, seed=3)
    assert defects == [] and clean.height == 50


def test_direct_and_staging_paths_load_the_same(
    run: Callable[..., Report], pg: psycopg.Connection[Any], tmp_path: Path, conninfo: str
) -> None:
    """Insert mode with first-row-wins COPYs straight into customers; the staging path must agree."""
    add_customer(conninfo, phone="79990000001", email="taken@x.ru")
    first = run(SAMPLES / "customers.csv", direct=True)
    direct_rejects = sorted(rejects_of(tmp_path / "rejects.csv"))
    direct_rows = customers(pg)
    pg.execute("DELETE FROM customers WHERE phone <> '79990000001'")
    second = run(SAMPLES / "customers.csv", direct=False)
    assert sorted(rejects_of(tmp_path / "rejects.csv")) == direct_rejects
    assert customers(pg) == direct_rows
    assert first.counts == second.counts
    assert first.first_inserted_id is not None and first.last_inserted_id - first.first_inserted_id == 287
