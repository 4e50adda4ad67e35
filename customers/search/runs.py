"""Index runs (init, migrate, flush) in PostgreSQL: the record of each run in
`search_index_runs` (sql/003_search.sql) and the lock that lets one run at a time."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psycopg

from customers.errors import CustomersError
from customers.search.client import Dialect
from customers.search.session import Session
from customers.search.state import IndexState


class SearchBusy(CustomersError):
    """Another rebuild (or init/flush) holds the index lock."""

    code = "SEARCH_BUSY"
    status = 409


_RUN_START = """
INSERT INTO search_index_runs (index_name, action, dialect) VALUES (%s, %s, %s) RETURNING id"""
_RUN_END = """
UPDATE search_index_runs SET finished_at = now(), status = %s, documents = %s, error = %s WHERE id = %s"""
_LAST_REBUILD = """
SELECT index_name, action, dialect, started_at, finished_at, status, documents, error
  FROM search_index_runs WHERE status = 'done' AND action IN ('migrate', 'init')
 ORDER BY finished_at DESC LIMIT 1"""
_LAST_REBUILD_COLUMNS = ("index", "action", "dialect", "started_at", "finished_at", "status", "documents", "error")


def record_start(conn: psycopg.Connection[Any], index: str, action: str, dialect: Dialect) -> int:
    """Record a run as started; return its id."""
    row = conn.execute(_RUN_START, (index, action, dialect.name)).fetchone()
    assert row is not None
    return int(row[0])


def record_end(conn: psycopg.Connection[Any], run: int, status: str, documents: int, error: str | None = None) -> None:
    conn.execute(_RUN_END, (status, documents, error, run))


def last_rebuild(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The last init or migrate that finished."""
    row = conn.execute(_LAST_REBUILD).fetchone()
    return dict(zip(_LAST_REBUILD_COLUMNS, row, strict=False)) if row else None


# pg_advisory_lock key of rebuild / init / flush ("srch" "lock" as two int4): a session lock on
# the rebuild's own connection, so a crashed rebuild releases it at once
INDEX_LOCK = 0x73726368_6C6F636B & 0x7FFFFFFFFFFFFFFF


class IndexLock:
    """One rebuild, init or flush at a time, across processes and machines."""

    def __init__(self, s: Session) -> None:
        self.s = s

    WAIT = 3.0  # seconds: the server notices a dead holder's connection a moment late

    def __enter__(self) -> IndexLock:
        deadline = time.monotonic() + self.WAIT
        while True:
            row = self.s.conn.execute("SELECT pg_try_advisory_lock(%s)", (INDEX_LOCK,)).fetchone()
            if row and row[0]:
                break
            if time.monotonic() > deadline:
                raise SearchBusy("another index rebuild, init or flush is running; try again when it ends")
            time.sleep(0.1)
        # runs left 'running' by a process that died are over
        self.s.conn.execute(
            "UPDATE search_index_runs SET status = 'failed', finished_at = now(), error = 'interrupted' "
            "WHERE status = 'running'"
        )
        return self

    def refresh(self) -> None:
        """Keep the mark of the index being built alive while the holder works."""
        self.s.redis.expire(IndexState.BUILDING, IndexState.BUILDING_TTL)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(psycopg.Error):  # a connection gone takes the lock with it
            self.s.conn.execute("SELECT pg_advisory_unlock(%s)", (INDEX_LOCK,))
