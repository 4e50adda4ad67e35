"""The index lifecycle: create, drop, rebuild in chunks and switch, status.

Which index serves queries is state of ours, kept in Redis under `IndexState`'s keys: the name of
the current index (on 2.x the alias points at it too), the index a rebuild is filling (the write
path writes to both while it runs), a version counter, and the set of indexes we created (so
leftovers of an interrupted rebuild are found and dropped). Each index version has its own
document key prefix, so two versions never share a document.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
import redis

from customers.config import Settings
from customers.search.bulk import RebuildProgress, write_all
from customers.search.client import REDIS_ERRORS, SyncClient, command, connect, text
from customers.search.runs import IndexLock, last_rebuild, record_end, record_start
from customers.search.schema import IndexSchema
from customers.search.session import Session, load_questionnaire, open_session
from customers.search.state import IndexState

log = logging.getLogger(__name__)

UNLINK_BATCH = 500  # document keys per UNLINK: the server stays responsive between batches
DROP_TIMEOUT = 300.0  # seconds; dropping a big index frees its structures within the command
CATCH_UP_MARGIN = dt.timedelta(seconds=60)  # writers' transactions that started before the rebuild


def _create(s: Session, schema: IndexSchema) -> str:
    version = int(s.redis.incr(IndexState.VERSION))
    index = IndexState.index_name(version)
    s.redis.sadd(IndexState.INDEXES, index)
    s.redis.set(IndexState.SCHEMA + index, schema.to_json())
    command(s.redis, *s.dialect.create(index, IndexState.doc_prefix(index), schema.declaration()))
    return index


def _drop(s: Session, index: str) -> None:
    """Drop an index, then its documents a batch at a time. At a million customers a drop ran
    inside the server past the client's reply timeout, and the client's resend of the timed-out
    drop failed with "Unknown Index name": the drop waits long, and no client of ours resends a
    command that timed out (`client.RETRY_ON`). Unlinking the documents afterwards in batches
    keeps that one command as short as the server allows (freeing the index itself still takes
    seconds at that size; docs/search.md has the figures) and lets other clients in between
    batches. Safe to repeat: an interrupted drop leaves the index in `IndexState.INDEXES`, and
    the next run removes what is left."""
    # its own client: the drop may take longer than a reply is otherwise waited for
    slow = connect(s.settings, timeout=DROP_TIMEOUT)
    try:
        command(slow, *s.dialect.drop(index))
    except redis.ResponseError as exc:
        log.info("index %s was already gone: %s", index, exc)
    finally:
        slow.close()
    unlink_documents(s.redis, index)
    s.redis.delete(IndexState.SCHEMA + index)
    s.redis.srem(IndexState.INDEXES, index)


def unlink_documents(client: SyncClient, index: str) -> int:
    """Remove the document hashes of an index (dropped, or never created) in batches; return
    how many were removed."""
    removed = 0
    batch: list[Any] = []
    for key in client.scan_iter(match=f"{IndexState.doc_prefix(index)}*", count=UNLINK_BATCH * 2):
        batch.append(key)
        if len(batch) >= UNLINK_BATCH:
            removed += int(client.unlink(*batch))
            batch = []
    if batch:
        removed += int(client.unlink(*batch))
    return removed


def _switch(s: Session, index: str) -> None:
    pipe = s.redis.pipeline(transaction=True)
    for switch in s.dialect.switch(IndexState.ALIAS, index):
        pipe.execute_command(*switch)
    pipe.set(IndexState.CURRENT, index)
    pipe.delete(IndexState.BUILDING)
    pipe.execute()


def init_index(settings: Settings, *, load_docs: bool = False, progress: RebuildProgress | None = None) -> int | None:
    """Create the index if there is none; return the number of documents loaded (0 without
    `load_docs`), or None when an index already existed."""
    with open_session(settings) as s, IndexLock(s) as lock:
        current = s.current()
        if current is not None and s.num_docs(current) is not None:
            return None
        schema = IndexSchema.from_questionnaire(load_questionnaire(s.conn))
        index = _create(s, schema)
        run = record_start(s.conn, index, "init", s.dialect)
        loaded = 0
        if load_docs:
            s.redis.set(IndexState.BUILDING, index, ex=IndexState.BUILDING_TTL)
            loaded = write_all(
                s, [index], schema, "TRUE", {}, fresh=True, total=s.count_customers(), progress=progress, lock=lock
            )
        _switch(s, index)
        record_end(s.conn, run, "done", loaded)
        return loaded


def flush_index(settings: Settings) -> int:
    """Drop every index of ours with all its documents; return how many were dropped."""
    with open_session(settings) as s, IndexLock(s):
        names = s.indexes() | set(filter(None, [s.current()]))
        for index in names:
            _drop(s, index)
        s.redis.delete(IndexState.CURRENT, IndexState.BUILDING)
        return len(names)


@dataclass
class MigrateResult:
    """What a rebuild did."""

    index: str
    previous: str | None
    documents: int
    caught_up: int
    dropped: list[str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def migrate_index(settings: Settings, *, progress: RebuildProgress | None = None) -> MigrateResult:
    """Build a new index version from the questionnaire in force, load every customer into it
    in chunks, catch up the writes made meanwhile, switch to it atomically and drop the old one.

    Every version owns its documents, so a new version is always loaded whole: switching to a
    version without them would empty the search.

    Queries are answered by the old index until the switch; if the rebuild stops half-way the
    old index keeps serving and the next run drops the leftover and starts afresh."""
    started = time.monotonic()
    with open_session(settings) as s, IndexLock(s) as lock:
        previous = s.current()
        for leftover in s.indexes() - {previous}:
            log.info("dropping %s, left over by an interrupted rebuild", leftover)
            _drop(s, leftover)
        schema = IndexSchema.from_questionnaire(load_questionnaire(s.conn))
        index = _create(s, schema)
        run = record_start(s.conn, index, "migrate", s.dialect)
        try:
            # from here on the write path also writes to the new index
            s.redis.set(IndexState.BUILDING, index, ex=IndexState.BUILDING_TTL)
            since = _changes_since(s)
            loaded = write_all(
                s, [index], schema, "TRUE", {}, fresh=True, total=s.count_customers(), progress=progress, lock=lock
            )
            caught = write_all(s, [index], schema, "updated_at >= %(since)s", {"since": since}, fresh=False)
            second = _changes_since(s)
            _switch(s, index)
            caught += write_all(s, [index], schema, "updated_at >= %(since)s", {"since": second}, fresh=False)
        except BaseException as exc:
            # the old index keeps serving; the half-built one is dropped now or by the next run
            with suppress(psycopg.Error):
                record_end(s.conn, run, "failed", 0, f"{type(exc).__name__}: {exc}")
            with suppress(*REDIS_ERRORS):
                if s.current() != index:
                    s.redis.delete(IndexState.BUILDING)
                    _drop(s, index)
            raise
        dropped = []
        if previous is not None and previous != index:
            _drop(s, previous)
            dropped.append(previous)
        record_end(s.conn, run, "done", loaded)
        return MigrateResult(index, previous, loaded, caught, dropped, round(time.monotonic() - started, 3))


def _changes_since(s: Session) -> dt.datetime:
    """The database's now, less the margin for writers' transactions still open: changes at
    or after it are caught up."""
    row = s.conn.execute("SELECT now() - %s", (CATCH_UP_MARGIN,)).fetchone()
    assert row is not None
    since: dt.datetime = row[0]
    return since


def index_status(settings: Settings) -> dict[str, Any]:
    """Current index, its document count against the customers count, the last rebuild."""
    with open_session(settings) as s:
        current = s.current()
        building = text(s.redis.get(IndexState.BUILDING))
        last = last_rebuild(s.conn)
        return {
            "dialect": s.dialect.name,
            "index": current,
            "documents": s.num_docs(current) if current else None,
            "customers": s.count_customers(),
            "building": building,
            "last_rebuild": last,
        }
