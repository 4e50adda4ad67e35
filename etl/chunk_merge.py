"""The merge of chunk tables into `customers`, chunk after chunk in file order, all inside the
one load transaction (insert mode, the first row of a repeated phone wins).

A chunk arrives without the rows that repeat a phone of an earlier row of its own frame (the
copying session set them aside as DUPLICATE_PHONE, `etl.parallel_copy.split_repeats`), in phone
order, and with the rows flagged whose phone an earlier frame may have held (`etl.seen_phones`):
every repeat of an earlier chunk's phone is among those few rows. They are probed
(`_PROBE_CHUNK`), and the repeats and the customers stored before are set aside. Then,
optimistically, the chunk's rows go in as they are (under a savepoint), without sorting or
looking anything up: when no row collides with a stored phone or email, which is the common
case of a load of new customers, the unique indexes' own checks are all the lookups needed, and
rows inserted in the phone index's order keep its pages hot. A chunk that collides with a phone
stored before this load is probed whole and goes in the same way; the next chunks are probed
whole first until a probe finds nothing. A collision with a stored email rolls the savepoint
back and the chunk is merged by the exact statement, which
sorts every row:
- a row repeats a phone (DUPLICATE_PHONE) when this load inserted the phone already (the row's
  `xmin` is one of the load's transaction ids), or when an earlier row that was not inserted had
  it (those phones are kept in a temporary table with a unique index, so no key of the file is
  held in the importer's memory);
- a row whose phone is stored already is `unchanged`;
- a row whose email a stored customer (or a row inserted earlier by this load) holds, or that
  repeats the email of an earlier row of its chunk, is rejected (EMAIL_EXISTS).
Every lookup goes through the unique indexes (LATERAL … LIMIT 1): the chunk is small, `customers`
may be large, and a hash join would read all of it once per chunk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from customers.store import email_key
from etl.staging import INSERT_STAGED_PARTS, chunk_table

Conn = psycopg.Connection[Any]

_PASSED = "CREATE TEMP TABLE import_passed_phones (phone text PRIMARY KEY) ON COMMIT DROP"

_MERGE_CHUNK = """
WITH k AS (
    SELECT s.row, s.phone, s.email,
           s.phone_rank > 1 OR coalesce(c.mine, false) OR p.passed IS NOT NULL AS dup,
           c.mine IS NOT NULL AS stored
      FROM (SELECT t.row, t.phone, t.email, row_number() OVER (PARTITION BY t.phone ORDER BY t.row) AS phone_rank
              FROM {chunk} t) s
      LEFT JOIN LATERAL (SELECT x.xmin = ANY({mine}::text[]::xid[]) AS mine
                           FROM customers x WHERE x.phone = s.phone LIMIT 1) c
        ON true
      LEFT JOIN LATERAL (SELECT true AS passed FROM pg_temp.import_passed_phones y WHERE y.phone = s.phone) p
        ON true),
live AS (
    SELECT k.row, k.phone, k.email, row_number() OVER (PARTITION BY k.email ORDER BY k.row) AS email_rank
      FROM k WHERE NOT k.dup AND NOT k.stored),
taken AS (
    SELECT l.row, l.phone, l.email FROM live l
      LEFT JOIN LATERAL (SELECT true AS found FROM customers x WHERE {email_key} = l.email LIMIT 1) e
        ON l.email IS NOT NULL
     WHERE l.email IS NOT NULL AND (l.email_rank > 1 OR e.found IS NOT NULL)),
passed AS (
    INSERT INTO pg_temp.import_passed_phones (phone)
    SELECT phone FROM k WHERE NOT k.dup AND k.stored
     UNION SELECT phone FROM taken
    ON CONFLICT DO NOTHING),
ins AS (
    {insert_staged}
      FROM {chunk} s
     WHERE s.row IN (SELECT row FROM live) AND s.row NOT IN (SELECT row FROM taken)
     ORDER BY s.phone
    RETURNING id)
SELECT 'dup', k.row, k.phone, NULL::bigint, NULL::bigint FROM k WHERE k.dup
 UNION ALL SELECT 'email', taken.row, taken.email, NULL, NULL FROM taken
 UNION ALL SELECT 'stored', count(*), NULL, NULL, NULL FROM k WHERE NOT k.dup AND k.stored
 UNION ALL SELECT 'inserted', count(*), NULL, min(id), max(id) FROM ins"""

# the chunk's rows as they are (in phone order, as copied): nothing to look up yet
_INSERT_CHUNK = """
WITH ins AS (
    {insert_staged}
      FROM {chunk} s
    RETURNING id, xmin)
SELECT 'inserted', count(*), NULL, min(id), max(id), min(xmin::text) FROM ins"""

# a chunk is probed through the phone index, in phone order, before its insert: its flagged rows
# (those whose phone an earlier frame may have held, `etl.seen_phones`), or all its rows once a
# chunk met phones stored before this load (and the chunks after it, see `ChunkMerge._insert`).
# A row whose phone this load inserted or passed is a repeat, one whose phone was stored before
# is `unchanged` (and its phone passed from then on); such rows leave the chunk table before the
# insert
_PROBE_CHUNK = """
WITH k AS (
    SELECT t.row, t.phone, p.passed IS NOT NULL OR coalesce(c.mine, false) AS dup
      FROM {chunk} t
      LEFT JOIN LATERAL (SELECT true AS passed FROM pg_temp.import_passed_phones y WHERE y.phone = t.phone) p
        ON true
      LEFT JOIN LATERAL (SELECT x.xmin = ANY({mine}::text[]::xid[]) AS mine
                           FROM customers x WHERE x.phone = t.phone LIMIT 1) c
        ON true
     WHERE {rows} AND (p.passed IS NOT NULL OR c.mine IS NOT NULL)),
passed AS (
    INSERT INTO pg_temp.import_passed_phones (phone)
    SELECT phone FROM k WHERE NOT k.dup
    ON CONFLICT DO NOTHING),
gone AS (
    DELETE FROM {chunk} t WHERE t.row IN (SELECT row FROM k))
SELECT k.row, k.phone, k.dup FROM k"""
_FLAGGED_ROWS = sql.SQL("t.row = ANY(%s::bigint[])")
_PHONE_INDEX = "customers_phone_key"
_EMAIL_KEY = sql.SQL(email_key("x"))


@dataclass
class ChunkMergeResult:
    """What the merges of a load did so far."""

    inserted: int = 0
    unchanged: int = 0
    first_id: int | None = None
    last_id: int | None = None
    duplicates: list[pl.DataFrame] = field(default_factory=list)
    taken: list[pl.DataFrame] = field(default_factory=list)


class ChunkMerge:
    """Merges the chunk tables of one run, in order, inside the caller's transaction."""

    def __init__(self, conn: Conn, run_id: int) -> None:
        self.conn = conn
        self.run_id = run_id
        self.result = ChunkMergeResult()
        conn.execute(_PASSED)
        row = conn.execute("SELECT now(), pg_current_xact_id()::xid::text").fetchone()
        assert row is not None
        self.changed_since: dt.datetime = row[0]
        # the transaction ids rows of this load carry: the load's and its savepoints'
        self._mine: list[str] = [row[1]]
        self._optimistic = True
        # probe all the next chunk's phones first: the last chunk met phones stored before
        self._probe = False

    def merge(self, chunk: int, duplicates: pl.DataFrame, seen: pl.Series) -> None:
        """Merge one chunk table (every earlier chunk must have been merged) and drop it;
        `duplicates` are the rows the copying session set aside (`__row`, `phone`), `seen` the
        `__row` of the rows it flagged as maybe repeating a phone of an earlier chunk."""
        name = chunk_table(self.run_id, chunk)
        if duplicates.height:
            self.result.duplicates.append(duplicates)
        rows = self._insert(name, seen) if self._optimistic else None
        if rows is None:
            statement = sql.SQL(_MERGE_CHUNK).format(
                chunk=name, mine=sql.Literal(self._mine), email_key=_EMAIL_KEY, **INSERT_STAGED_PARTS
            )
            rows = [(*r, None) for r in self.conn.execute(statement).fetchall()]
            self._probe = True
            # back to the cheap statement once a chunk collided with nothing stored
            self._optimistic = not any(r[0] in ("stored", "email") and r[1] for r in rows)
        result = self.result
        dups = [(r[1], r[2]) for r in rows if r[0] == "dup"]
        taken = [(r[1], r[2]) for r in rows if r[0] == "email"]
        for kind, count, _value, low, high, xid in rows:
            if xid is not None and xid not in self._mine:
                self._mine.append(xid)
            if kind == "stored":
                result.unchanged += int(count)
            elif kind == "inserted":
                result.inserted += int(count)
                if low is not None:
                    result.first_id = low if result.first_id is None else min(low, result.first_id)
                    result.last_id = high if result.last_id is None else max(high, result.last_id)
        if dups:
            result.duplicates.append(pl.DataFrame(dups, schema={"__row": pl.Int64, "phone": pl.String}, orient="row"))
        if taken:
            result.taken.append(pl.DataFrame(taken, schema={"__row": pl.Int64, "email": pl.String}, orient="row"))
        # dropped with the load's commit (a rollback keeps it: the run's end drops it then)
        self.conn.execute(sql.SQL("DROP TABLE {}").format(name))

    def _insert(self, name: sql.Identifier, seen: pl.Series) -> list[tuple[Any, ...]] | None:
        """The chunk's new rows in, under a savepoint; None (and nothing written) when a row
        collides with a stored email. The flagged rows are probed first (`_PROBE_CHUNK`): every
        repeat of a phone of an earlier chunk is among them, whether that phone was inserted or
        passed (a phone import_passed_phones holds and customers does not, of a row refused for
        its email, is no longer caught by the phone index). A chunk whose insert meets a phone
        stored before this load is probed whole and inserted again, and so is the next one,
        until a probe finds nothing: a file of customers stored already collides chunk after
        chunk, while an insert wasted now and then costs less than a probe of every chunk."""
        probe_all = self._probe
        try:
            with self.conn.transaction():
                rows: list[tuple[Any, ...]] = []
                if probe_all or seen.len():
                    where = sql.SQL("true") if probe_all else _FLAGGED_ROWS
                    probe = sql.SQL(_PROBE_CHUNK).format(chunk=name, mine=sql.Literal(self._mine), rows=where)
                    found = self.conn.execute(probe, None if probe_all else (seen.to_list(),)).fetchall()
                    rows += [("dup", row, phone, None, None, None) for row, phone, dup in found if dup]
                    rows.append(("stored", sum(not dup for *_, dup in found), None, None, None, None))
                    if probe_all:
                        self._probe = bool(found)
                insert = sql.SQL(_INSERT_CHUNK).format(chunk=name, **INSERT_STAGED_PARTS)
                return rows + self.conn.execute(insert).fetchall()
        except pg_errors.UniqueViolation as exc:
            if not probe_all and exc.diag.constraint_name == _PHONE_INDEX:
                self._probe = True
                return self._insert(name, seen)
            self._optimistic = False
            return None
