"""Export customers to CSV or Parquet, streamed with COPY TO, in the columns `customers import`
reads: an exported file imports back into an empty database to the same data.

Profile fields come out as one column per questionnaire field (lists comma-joined), meta fields as
`meta.<key>`; keys a profile holds that the questionnaire no longer lists are not exported.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import psycopg
from psycopg import sql

from customers import db
from customers.questionnaire_document import FieldSpec
from etl.load import current_questionnaire

ExportFormat = Literal["csv", "parquet"]
_BOOLEANS = ("email_confirmed", "blocked", "loyalty_enabled", "accept_tender_offer", "prioritize_sms_verification")


@dataclass
class ExportResult:
    """What was written."""

    path: str
    format: str
    rows: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "rows": self.rows, "bytes": self.bytes}


def _field(column: str, spec: FieldSpec, name: str) -> sql.Composable:
    key = sql.Literal(spec.key)
    if spec.type == "list":
        expr = sql.SQL("array_to_string(ARRAY(SELECT jsonb_array_elements_text({} -> {})), ',')").format(
            sql.Identifier(column), key
        )
    else:
        expr = sql.SQL("{} ->> {}").format(sql.Identifier(column), key)
    return sql.SQL("{} AS {}").format(expr, sql.Identifier(name))


def export_query(conn: psycopg.Connection[Any], since: dt.date | None) -> sql.Composable:
    """The SELECT whose rows are the export, one column per importable field."""
    questionnaire = current_questionnaire(conn)
    items: list[sql.Composable] = [
        sql.SQL("phone"),
        sql.SQL("email"),
        *(sql.SQL("{}::text AS {}").format(sql.Identifier(b), sql.Identifier(b)) for b in _BOOLEANS[:2]),
        sql.SQL("source_id"),
        *(sql.SQL("{}::text AS {}").format(sql.Identifier(b), sql.Identifier(b)) for b in _BOOLEANS[2:]),
        sql.SQL("created"),
    ]
    items += [_field("profile", spec, spec.key) for spec in questionnaire.document.fields]
    items += [_field("meta", spec, f"meta.{spec.key}") for spec in questionnaire.document.meta_fields]
    where = sql.SQL(" WHERE updated_at >= {}").format(sql.Literal(since)) if since else sql.SQL("")
    return sql.SQL("SELECT {} FROM customers{} ORDER BY id").format(sql.SQL(", ").join(items), where)


def export_customers(
    conninfo: str, path: Path, fmt: ExportFormat | None = None, since: dt.date | None = None
) -> ExportResult:
    """Write the customers (changed since `since`, when given) to `path`."""
    kind: ExportFormat = fmt or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with db.connect(conninfo, autocommit=True) as conn:
        query = export_query(conn, since)
        if kind == "csv":
            rows = _copy_out(conn, query, path)
        else:
            handle, name = tempfile.mkstemp(prefix="customers-export-", suffix=".csv")
            os.close(handle)
            tmp = Path(name)
            try:
                rows = _copy_out(conn, query, tmp)
                _csv_to_parquet(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    return ExportResult(str(path), kind, rows, path.stat().st_size)


def _copy_out(conn: psycopg.Connection[Any], query: sql.Composable, path: Path) -> int:
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(query)
    with path.open("wb") as out, conn.cursor() as cur:
        with cur.copy(statement) as copy:
            for chunk in copy:
                out.write(chunk)
        rows = cur.rowcount
    return max(rows, 0)


def _csv_to_parquet(source: Path, target: Path) -> None:
    """Typed Parquet from the COPY output, streamed by polars (memory stays bounded)."""
    with source.open(encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split(",")
    lazy = pl.scan_csv(source, schema=dict.fromkeys(header, pl.String))
    lazy = lazy.with_columns(
        pl.col("created").str.to_date("%Y-%m-%d"),
        *(pl.col(b).replace_strict({"true": True, "false": False}, return_dtype=pl.Boolean) for b in _BOOLEANS),
    )
    lazy.sink_parquet(target)
