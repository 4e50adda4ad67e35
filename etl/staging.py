"""Staging tables: where validated rows wait before the merge into `customers`.

A run stages its rows either in one table `import_staging_<run id>`, created inside the load
transaction (it never outlives a failed run), or, on the parallel path, in chunk tables
`import_staging_<run id>_<chunk>`, each created and committed by one copying session so that the
merging session can read it. Chunk tables can outlive a run that was killed; a run holds an
advisory lock on its id while it lives, so any later import can tell a dead run's chunk tables
from those of a live one and drops them (the cleanup job drops whatever is still left a day later).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.json import Jsonb

from customers.import_runs import STAGING_PREFIX
from customers.models import create_defaults

log = logging.getLogger(__name__)
Conn = psycopg.Connection[Any]

# the staging columns, already of the final types (profile and meta arrive as JSON text)
STAGING_COLUMNS = """
    row bigint NOT NULL,
    phone text NOT NULL,
    email text,
    email_confirmed boolean,
    source_id text,
    blocked boolean,
    loyalty_enabled boolean,
    accept_tender_offer boolean,
    prioritize_sms_verification boolean,
    created date,
    profile jsonb NOT NULL,
    meta jsonb NOT NULL"""

# first key of the advisory lock a live run holds on its id ("imp" in ASCII)
RUN_LOCK_CLASS = 0x696D70
_CHUNK_NAME = re.compile(rf"^{re.escape(STAGING_PREFIX)}(\d+)_(\d+)$")
_CHUNK_TABLES = r"""
SELECT c.relname::text FROM pg_class c
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
   AND starts_with(c.relname::text, %s)"""


def chunk_table(run_id: int, chunk: int) -> sql.Identifier:
    """The name of one chunk table of a run."""
    return sql.Identifier(f"{STAGING_PREFIX}{run_id}_{chunk}")


def create_chunk_statement(run_id: int, chunk: int) -> sql.Composed:
    """CREATE of a chunk table: UNLOGGED (a crash may empty it, the run is then over anyway)."""
    return sql.SQL("CREATE UNLOGGED TABLE {} (" + STAGING_COLUMNS + ")").format(chunk_table(run_id, chunk))


def hold_run_lock(conn: Conn, run_id: int) -> None:
    """Mark the run alive for as long as `conn` (an autocommit session) stays open."""
    conn.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, _lock_key(run_id)))


def drop_chunks(conn: Conn, run_id: int) -> None:
    """Drop the chunk tables of one run (after it ended, whichever way)."""
    names = [n for n in _chunk_names(conn, f"{STAGING_PREFIX}{run_id}_") if _run_of(n) == run_id]
    _drop(conn, names)


def drop_dead_chunks(conn: Conn) -> list[str]:
    """Drop the chunk tables of runs that no longer live (killed mid-load); returns their names."""
    by_run: dict[int, list[str]] = {}
    for name in _chunk_names(conn, STAGING_PREFIX):
        run = _run_of(name)
        if run is not None:
            by_run.setdefault(run, []).append(name)
    dead: list[str] = []
    for run, names in sorted(by_run.items()):
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (RUN_LOCK_CLASS, _lock_key(run))).fetchone()
        if row and row[0]:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", (RUN_LOCK_CLASS, _lock_key(run)))
            dead += names
    _drop(conn, dead)
    return dead


def _lock_key(run_id: int) -> int:
    return run_id % (1 << 31)


def _run_of(name: str) -> int | None:
    match = _CHUNK_NAME.match(name)
    return int(match.group(1)) if match else None


def _chunk_names(conn: Conn, prefix: str) -> list[str]:
    return [r[0] for r in conn.execute(_CHUNK_TABLES, (prefix,)).fetchall()]


def _drop(conn: Conn, names: list[str]) -> None:
    """Drop tables without ever waiting long: a backend of a killed client may still hold one
    until it notices its client is gone; the next import (or the cleanup job) drops it then."""
    for name in names:
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '1s'")
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        except pg_errors.LockNotAvailable:
            log.info("staging table %s is still in use; left for a later import or the cleanup job", name)


# Staged rows inserted as customers (`s` names the staged rows in the statement): the flags a file
# leaves out or empty take the create defaults (customers.models.create_defaults, the one set REST
# and JSON-RPC use too), and the subscriptions no file carries. Profile and meta come from the
# file (an object without members when it has no such columns). A statement places it with
# `{insert_staged}` and formats with `**INSERT_STAGED_PARTS`.
_CREATE_DEFAULTS: dict[str, Any] = create_defaults()
_FLAGS = ("email_confirmed", "blocked", "loyalty_enabled", "accept_tender_offer", "prioritize_sms_verification")
_INSERT_STAGED = """INSERT INTO customers (phone, email, email_confirmed, source_id, blocked, loyalty_enabled,
                           accept_tender_offer, prioritize_sms_verification, created, profile, meta,
                           subscriptions)
    SELECT s.phone, s.email, coalesce(s.email_confirmed, {email_confirmed}), s.source_id,
           coalesce(s.blocked, {blocked}), coalesce(s.loyalty_enabled, {loyalty_enabled}),
           coalesce(s.accept_tender_offer, {accept_tender_offer}),
           coalesce(s.prioritize_sms_verification, {prioritize_sms_verification}),
           coalesce(s.created, current_date), s.profile, s.meta, {subscriptions}"""
INSERT_STAGED_PARTS: dict[str, sql.Composable] = {
    "insert_staged": sql.SQL(_INSERT_STAGED).format(
        **{flag: sql.Literal(_CREATE_DEFAULTS[flag]) for flag in _FLAGS},
        subscriptions=sql.Literal(Jsonb(_CREATE_DEFAULTS["subscriptions"])),
    )
}
