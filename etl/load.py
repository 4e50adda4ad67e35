"""Stage 3, load: COPY valid rows into the run's staging table, then one set-based merge into
`customers` under the chosen mode, all in one transaction (a file is loaded whole or not at all).

The staging table `import_staging_<run id>` is UNLOGGED and already has the final column types
(profile and meta arrive as JSON text built by polars), so the merge is a plain
INSERT … SELECT / UPDATE … FROM without per-row expressions to evaluate.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb

from customers.import_runs import STAGING_PREFIX
from customers.questionnaire import Questionnaire
from customers.questionnaire_document import QuestionnaireDocument
from customers.store import email_key
from etl.read import ROW
from etl.rejects import REJECT_SCHEMA, empty_rejects
from etl.staging import INSERT_STAGED_PARTS, STAGING_COLUMNS
from etl.validate import STAGED, columns_holding

Mode = Literal["insert", "upsert", "update"]
Conn = psycopg.Connection[Any]

_CURRENT_QUESTIONNAIRE = "SELECT version, document FROM questionnaire_versions ORDER BY version DESC LIMIT 1"


def current_questionnaire(conn: Conn) -> Questionnaire:
    """The questionnaire in force (the shipped default when none was ever set)."""
    row = conn.execute(_CURRENT_QUESTIONNAIRE).fetchone()
    if row is None:
        return Questionnaire.default()
    return Questionnaire(QuestionnaireDocument.model_validate(row[1]), row[0])


# ---------------------------------------------------------------------------------------------
# Run records (written on their own autocommit connection, so they survive a failed load)


def start_run(conn: Conn, *, file: str, size: int, checksum: str | None, format: str, mode: Mode) -> int:
    """Record a new run as 'running'; returns its id."""
    row = conn.execute(
        "INSERT INTO import_runs (file, size, checksum, format, mode) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (file, size, checksum, format, mode),
    ).fetchone()
    assert row is not None
    return int(row[0])


def finish_run(conn: Conn, run_id: int, status: str, report: dict[str, Any], error: str | None = None) -> None:
    """Store the outcome and the report of a run."""
    counts = report.get("counts", {})
    conn.execute(
        """UPDATE import_runs SET status = %s, checksum = coalesce(%s, checksum), rows_read = %s, inserted = %s,
               updated = %s, unchanged = %s, rejected = %s, duplicates = %s, report = %s,
               finished_at = now(), committed_at = %s, error = %s
           WHERE id = %s""",
        (
            status,
            report.get("checksum"),
            counts.get("read", 0),
            counts.get("inserted", 0),
            counts.get("updated", 0),
            counts.get("unchanged", 0),
            counts.get("rejected", 0),
            counts.get("duplicates", 0),
            Jsonb(report),
            report.get("committed_at"),
            error,
            run_id,
        ),
    )


# ---------------------------------------------------------------------------------------------
# Staging and merge

_INSERT = """
WITH ins AS (
    {insert_staged}
      FROM {staging} s
     WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.phone = s.phone)
    {conflict}
    RETURNING id)
SELECT count(*), min(id), max(id) FROM ins"""

_NEW_VALUES = """coalesce(s.email, c.email), coalesce(s.email_confirmed, c.email_confirmed),
    coalesce(s.source_id, c.source_id), coalesce(s.blocked, c.blocked),
    coalesce(s.loyalty_enabled, c.loyalty_enabled), coalesce(s.accept_tender_offer, c.accept_tender_offer),
    coalesce(s.prioritize_sms_verification, c.prioritize_sms_verification), coalesce(s.created, c.created),
    c.profile || s.profile, c.meta || s.meta"""

_UPDATE = f"""
WITH upd AS (
    UPDATE customers c
       SET (email, email_confirmed, source_id, blocked, loyalty_enabled, accept_tender_offer,
            prioritize_sms_verification, created, profile, meta)
         = ({_NEW_VALUES}),
           updated_at = now()
      FROM {{staging}} s
     WHERE c.phone = s.phone
       AND ({_NEW_VALUES})
           IS DISTINCT FROM
           (c.email, c.email_confirmed, c.source_id, c.blocked, c.loyalty_enabled, c.accept_tender_offer,
            c.prioritize_sms_verification, c.created, c.profile, c.meta)
    RETURNING c.id)
SELECT count(*), min(id), max(id) FROM upd"""

# rows whose email belongs to another customer (one that the row would not become)
_EMAIL_TAKEN = f"""
SELECT s.row, s.email FROM {{staging}} s JOIN customers c ON {email_key("c")} = s.email
 WHERE s.email IS NOT NULL AND c.phone <> s.phone {{scope}}"""
_PHONE_EXISTS = "EXISTS (SELECT 1 FROM customers x WHERE x.phone = s.phone)"


@dataclass
class MergeResult:
    """What the merge did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    first_id: int | None = None
    last_id: int | None = None
    changed_since: dt.datetime | None = None
    rejects: pl.DataFrame | None = None


class Staging:
    """The staging table of one run, inside the caller's transaction."""

    def __init__(self, conn: Conn, run_id: int) -> None:
        self.conn = conn
        self.name = sql.Identifier(f"{STAGING_PREFIX}{run_id}")
        self.rows = 0

    def create(self) -> None:
        self.conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} (" + STAGING_COLUMNS + ")").format(self.name))

    def copy_statement(self) -> sql.Composed:
        return copy_staged_statement(self.name)

    def drop_rows(self, rows: pl.Series) -> None:
        """Remove rows (by row number) from staging, e.g. duplicates found after the COPY."""
        if rows.is_empty():
            return
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_drop (row bigint) ON COMMIT DROP")
        self.conn.execute("TRUNCATE import_drop")
        with self.conn.cursor().copy("COPY import_drop (row) FROM STDIN (FORMAT csv)") as copy:
            copy.write(rows.cast(pl.String).str.join("\n").item() + "\n")
        cur = self.conn.execute(sql.SQL("DELETE FROM {} s USING import_drop d WHERE s.row = d.row").format(self.name))
        self.rows -= cur.rowcount

    def merge(self, mode: Mode, timings: dict[str, float] | None = None) -> MergeResult:
        """Merge staging into customers; rows that cannot be written become rejects."""
        conn = self.conn
        timings = timings if timings is not None else {}
        clock = time.monotonic()
        conn.execute(sql.SQL("ANALYZE {}").format(self.name))
        # An emptied or small customers table tempts the planner into a nested loop that scans
        # customers once per staged row; customers grows during the INSERT (invisible rows are
        # still read), which makes that quadratic. Hash joins are linear in both tables.
        conn.execute("SET LOCAL enable_nestloop = off")
        result = MergeResult(rejects=empty_rejects())
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        result.changed_since = row[0]
        scope = {"insert": f"AND NOT {_PHONE_EXISTS}", "update": f"AND {_PHONE_EXISTS}", "upsert": ""}[mode]
        taken = conn.execute(sql.SQL(_EMAIL_TAKEN.replace("{scope}", scope)).format(staging=self.name)).fetchall()
        rejects = [
            pl.DataFrame(
                {
                    "row": [r[0] for r in taken],
                    "column": ["email"] * len(taken),
                    "code": ["EMAIL_EXISTS"] * len(taken),
                    "value": [r[1] for r in taken],
                    "message": ["the email belongs to another customer"] * len(taken),
                },
                schema=REJECT_SCHEMA,
            )
        ]
        self.drop_rows(pl.Series([r[0] for r in taken], dtype=pl.Int64))
        if mode == "update":
            missing = conn.execute(
                sql.SQL(f"SELECT s.row, s.phone FROM {{}} s WHERE NOT {_PHONE_EXISTS}").format(self.name)
            ).fetchall()
            rejects.append(
                pl.DataFrame(
                    {
                        "row": [r[0] for r in missing],
                        "column": ["phone"] * len(missing),
                        "code": ["CUSTOMER_NOT_FOUND"] * len(missing),
                        "value": [r[1] for r in missing],
                        "message": ["no customer has this phone (--mode update touches existing customers only)"]
                        * len(missing),
                    },
                    schema=REJECT_SCHEMA,
                )
            )
            self.drop_rows(pl.Series([r[0] for r in missing], dtype=pl.Int64))
        result.rejects = pl.concat(rejects)
        timings["checks"] = round(time.monotonic() - clock, 3)
        clock = time.monotonic()
        matched = 0
        if mode in ("upsert", "update"):
            found = conn.execute(
                sql.SQL("SELECT count(*) FROM {} s JOIN customers c ON c.phone = s.phone").format(self.name)
            ).fetchone()
            matched = int(found[0]) if found else 0
            count, first, last = conn.execute(sql.SQL(_UPDATE).format(staging=self.name)).fetchone() or (0, None, None)
            result.updated = int(count)
            result.unchanged = matched - result.updated
            result.first_id, result.last_id = first, last
        if mode in ("insert", "upsert"):
            count, first, last = self._insert()
            result.inserted = count
            if mode == "insert":
                result.unchanged = self.rows - count
            result.first_id = _min(result.first_id, first)
            result.last_id = _max(result.last_id, last)
        timings["merge"] = round(time.monotonic() - clock, 3)
        return result

    def _insert(self) -> tuple[int, int | None, int | None]:
        """Insert the new phones. Without ON CONFLICT (its speculative insertion costs), since the
        anti-join already skips existing phones; only if a concurrent writer adds one of the phones
        meanwhile does the statement fail, and it is then repeated with ON CONFLICT DO NOTHING."""
        statement = sql.SQL(_INSERT.replace("{conflict}", "")).format(staging=self.name, **INSERT_STAGED_PARTS)
        try:
            with self.conn.transaction():
                row = self.conn.execute(statement).fetchone()
        except pg_errors.UniqueViolation:
            statement = sql.SQL(_INSERT.replace("{conflict}", "ON CONFLICT DO NOTHING")).format(
                staging=self.name, **INSERT_STAGED_PARTS
            )
            row = self.conn.execute(statement).fetchone()
        assert row is not None
        return int(row[0]), row[1], row[2]


def copy_staged_statement(table: sql.Identifier) -> sql.Composed:
    """The COPY of validated frames (`copy_frames`) into a staging table created in the same
    transaction. FREEZE: its rows need no hint bits set (and written out again) when the merge
    reads them. PostgreSQL's text format, not CSV: the JSON members' quotes need no doubling
    (a tenth fewer bytes than CSV and a tenth less of the server's parsing, measured)."""
    columns = sql.SQL(", ").join(sql.Identifier("row" if c == ROW else c) for c in STAGED)
    return sql.SQL("COPY {} ({}) FROM STDIN (FREEZE)").format(table, columns)


# what PostgreSQL's COPY text format escapes in a value
_TEXT_SPECIAL = ["\\", "\t", "\n", "\r"]
_TEXT_ESCAPED = ["\\\\", "\\t", "\\n", "\\r"]
_HAS_SPECIAL = r"[\\\t\n\r]"


def copy_frames(copy: Any, frame: pl.DataFrame) -> None:
    """Send one validated frame through an open `copy_staged_statement` (polars-serialised)."""
    staged = frame.select(STAGED)
    text = [name for name, dtype in staged.schema.items() if dtype == pl.String]
    # Only the text columns holding a character to escape are escaped: most columns of most
    # frames hold none, and looking costs a sixth of escaping (measured on 50,000 rows).
    escape = columns_holding(staged, text, _HAS_SPECIAL)
    if escape:
        staged = staged.with_columns(pl.col(escape).str.replace_many(_TEXT_SPECIAL, _TEXT_ESCAPED))
    buffer = io.BytesIO()
    staged.write_csv(
        buffer, include_header=False, separator="\t", quote_style="never", null_value="\\N", date_format="%Y-%m-%d"
    )
    copy.write(buffer.getbuffer())


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
