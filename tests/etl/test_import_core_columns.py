"""Core customer columns in bulk files: `source_id` is text; columns left out take the create
defaults of `customers.models.CustomerCreate`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from etl_support import customers, rejects_of

from etl.export import export_customers
from etl.report import Report
from tests.helpers import CREATE_DEFAULTS

Write = Callable[..., Path]
Run = Callable[..., Report]

SOURCE_IDS = ["LEG-007-0000028", "app-ios-43", "Склад №261 «Центральный»", 'Склад №2, "Север"', "0042"]


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"') else value


def test_text_source_ids_load_and_an_over_long_one_is_rejected(
    run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    phones = [f"7912345670{i}" for i in range(len(SOURCE_IDS))]
    lines = [f"{phone},{_csv_cell(value)}" for phone, value in zip(phones, SOURCE_IDS, strict=True)]
    lines.append("79123456799," + "я" * 256)
    report = run(write("legacy.csv", "phone,source_id\n" + "\n".join(lines) + "\n"))
    assert report.counts.inserted == len(SOURCE_IDS) and report.counts.rejected == 1
    assert rejects_of(tmp_path / "rejects.csv") == [(len(SOURCE_IDS) + 2, "source_id", "LENGTH_CONSTRAINT")]
    message = pl.read_csv(tmp_path / "rejects.csv", infer_schema=False).get_column("message").item()
    assert "255 characters" in message
    stored = customers(pg)
    assert {phone: stored[phone]["source_id"] for phone in phones} == dict(zip(phones, SOURCE_IDS, strict=True))
    # the staging path (upsert) writes text too, and 255 characters are fine
    longest = "я" * 255
    report = run(write("again.csv", f"phone,source_id\n{phones[0]},{longest}\n{phones[1]},\n"), mode="upsert")
    assert report.counts.updated == 1 and report.counts.unchanged == 1
    stored = customers(pg)
    assert stored[phones[0]]["source_id"] == longest
    assert stored[phones[1]]["source_id"] == SOURCE_IDS[1]  # an empty cell keeps the stored value


def test_parquet_source_ids_as_text_or_as_integers(run: Run, tmp_path: Path, pg: psycopg.Connection[Any]) -> None:
    text = tmp_path / "text.parquet"
    pl.DataFrame({"phone": ["79123456701", "79123456702"], "source_id": ["app-ios-43", None]}).write_parquet(text)
    assert run(text).counts.inserted == 2
    # files exported while source_id was an integer column carry it as integers
    integers = tmp_path / "integers.parquet"
    pl.DataFrame({"phone": ["79123456703"], "source_id": [28]}, schema_overrides={"source_id": pl.Int64}).write_parquet(
        integers
    )
    report = run(integers)
    assert report.counts.inserted == 1
    stored = customers(pg)
    assert [stored[p]["source_id"] for p in ("79123456701", "79123456702", "79123456703")] == [
        "app-ios-43",
        None,
        "28",
    ]


def test_export_writes_source_ids_as_text(
    run: Run, write: Write, pg: psycopg.Connection[Any], conninfo: str, tmp_path: Path
) -> None:
    phones = [f"7912345670{i}" for i in range(len(SOURCE_IDS))]
    lines = [f"{phone},{_csv_cell(value)}" for phone, value in zip(phones, SOURCE_IDS, strict=True)]
    run(write("legacy.csv", "phone,source_id\n" + "\n".join(lines) + "\n"))
    expected = dict(zip(phones, SOURCE_IDS, strict=True))
    for name in ("out.csv", "out.parquet"):
        export_customers(conninfo, tmp_path / name)
        frame = (
            pl.read_parquet(tmp_path / name)
            if name.endswith(".parquet")
            else pl.read_csv(tmp_path / name, infer_schema=False)
        )
        assert frame.schema["source_id"] == pl.String
        assert dict(zip(frame["phone"], frame["source_id"], strict=True)) == expected


def _defaults_of(pg: psycopg.Connection[Any], phones: list[str]) -> list[dict[str, Any]]:
    columns = ", ".join(CREATE_DEFAULTS)
    rows = pg.execute(f"SELECT {columns} FROM customers WHERE phone = ANY(%s) ORDER BY phone", (phones,)).fetchall()
    return [dict(zip(CREATE_DEFAULTS, row, strict=True)) for row in rows]


def test_columns_left_out_or_empty_take_the_create_defaults(
    run: Run, write: Write, pg: psycopg.Connection[Any]
) -> None:
    # no core column but the phone, on the direct path
    assert run(write("plain.csv", "phone\n79123456701\n79123456702\n")).counts.inserted == 2
    # the columns present and empty, on the direct path
    flags = "email_confirmed,blocked,loyalty_enabled,accept_tender_offer,prioritize_sms_verification"
    assert run(write("empty.csv", f"phone,{flags}\n79123456703,,,,,\n")).counts.inserted == 1
    # new phones through the staging path (upsert), columns left out and empty
    assert run(write("upsert.csv", "phone\n79123456704\n"), mode="upsert").counts.inserted == 1
    assert run(write("upsert2.csv", f"phone,{flags}\n79123456705,,,,,\n"), mode="upsert").counts.inserted == 1
    phones = [f"7912345670{i}" for i in range(1, 6)]
    assert _defaults_of(pg, phones) == [CREATE_DEFAULTS] * 5
    # values given are kept, on both paths
    given = "79123456706,true,true,true,false,true\n"
    run(write("given.csv", f"phone,{flags}\n{given}"))
    run(write("given2.csv", f"phone,{flags}\n{given.replace('706', '707')}"), mode="upsert")
    expected = {
        **CREATE_DEFAULTS,
        "email_confirmed": True,
        "blocked": True,
        "loyalty_enabled": True,
        "accept_tender_offer": False,
        "prioritize_sms_verification": True,
    }
    assert _defaults_of(pg, ["79123456706", "79123456707"]) == [expected] * 2
