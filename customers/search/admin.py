"""Index administration: create, drop, rebuild in chunks and switch, status, re-index, repair.

Which index serves queries is state of ours, kept in Redis under `IndexState`'s keys: the name of
the current index (on 2.x the alias points at it too), the index a rebuild is filling (the write
path writes to both while it runs), a version counter, and the set of indexes we created (so
leftovers of an interrupted rebuild are found and dropped). Each index version has its own
document key prefix, so two versions never share a document.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
import redis
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from customers import db
from customers.config import Settings
from customers.errors import CustomersError
from customers.questionnaire import Questionnaire, QuestionnaireDocument
from customers.search.client import (
    REDIS_ERRORS,
    Dialect,
    SearchUnavailable,
    SyncClient,
    connect,
    pairs,
    probe,
    text,
)
from customers.search.documents import commands_for, encoded_sql
from customers.search.schema import IndexSchema
from customers.search.state import IndexState

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (documents written so far, customers to write)


class SearchBusy(CustomersError):
    """Another rebuild (or init/flush) holds the index lock."""

    code = "SEARCH_BUSY"
    status = 409


class SearchIndexError(CustomersError):
    """The server refused documents; the rebuild was abandoned and the old index still serves."""

    code = "SEARCH_INDEX_ERROR"
    status = 500


# ---------------------------------------------------------------------------------------------
# Runs recorded in PostgreSQL (sql/003_search.sql)

_RUN_START = """
INSERT INTO search_index_runs (index_name, action, dialect) VALUES (%s, %s, %s) RETURNING id"""
_RUN_END = """
UPDATE search_index_runs SET finished_at = now(), status = %s, documents = %s, error = %s WHERE id = %s"""
_LAST_RUN = """
SELECT index_name, action, dialect, started_at, finished_at, status, documents, error
  FROM search_index_runs WHERE status = 'done' AND action IN ('migrate', 'init')
 ORDER BY finished_at DESC LIMIT 1"""


def _record_start(conn: psycopg.Connection[Any], index: str, action: str, dialect: Dialect) -> int:
    row = conn.execute(_RUN_START, (index, action, dialect.name)).fetchone()
    assert row is not None
    return int(row[0])


def _record_end(conn: psycopg.Connection[Any], run: int, status: str, documents: int, error: str | None = None) -> None:
    conn.execute(_RUN_END, (status, documents, error, run))


# ---------------------------------------------------------------------------------------------
# Session: one Redis client, its dialect, one PostgreSQL connection


@dataclass
class Session:
    settings: Settings
    redis: SyncClient
    dialect: Dialect
    conn: psycopg.Connection[Any]

    def current(self) -> str | None:
        return text(self.redis.get(IndexState.CURRENT))

    def targets(self) -> list[str]:
        """Indexes a write goes to: the current one and the one being built, if any."""
        found = [text(name) for name in self.redis.mget([IndexState.CURRENT, IndexState.BUILDING])]  # type: ignore[union-attr]
        return list(dict.fromkeys(name for name in found if name))

    def indexes(self) -> set[str]:
        """Every index of ours that has not been dropped."""
        return {name for name in (text(m) for m in self.redis.smembers(IndexState.INDEXES)) if name}  # type: ignore[union-attr]

    def schema_of(self, index: str) -> IndexSchema | None:
        stored = text(self.redis.get(IndexState.SCHEMA + index))
        return IndexSchema.from_json(stored) if stored else None

    def num_docs(self, index: str) -> int | None:
        try:
            return self.dialect.num_docs(pairs(self.redis.execute_command("FT.INFO", index)))
        except redis.ResponseError:
            return None


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """Connect to Redis (probing its dialect) and PostgreSQL."""
    client = connect(settings)
    try:
        dialect = probe(client)
        with db.connect(db.resolve(settings).conninfo, autocommit=True) as conn:
            yield Session(settings, client, dialect, conn)
    except REDIS_ERRORS as exc:
        raise SearchUnavailable(f"Redis is unavailable: {exc}") from exc
    finally:
        client.close()


def load_questionnaire(conn: psycopg.Connection[Any]) -> Questionnaire:
    """The questionnaire in force (synchronously, for rebuilds and jobs)."""
    row = conn.execute("SELECT version, document FROM questionnaire_versions ORDER BY version DESC LIMIT 1").fetchone()
    if row is None:
        return Questionnaire.default()
    return Questionnaire(QuestionnaireDocument.model_validate(row[1]), row[0])


# pg_advisory_lock key of rebuild / init / flush ("srch" "lock" as two int4): a session lock on
# the rebuild's own connection, so a crashed rebuild releases it at once
INDEX_LOCK = 0x73726368_6C6F636B & 0x7FFFFFFFFFFFFFFF


class _Lock:
    """One rebuild, init or flush at a time, across processes and machines."""

    def __init__(self, s: Session) -> None:
        self.s = s

    WAIT = 3.0  # seconds: the server notices a dead holder's connection a moment late

    def __enter__(self) -> _Lock:
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
        self.s.redis.expire(IndexState.BUILDING, IndexState.BUILDING_TTL)

    def __exit__(self, *exc: Any) -> None:
        with contextlib.suppress(psycopg.Error):  # a connection gone takes the lock with it
            self.s.conn.execute("SELECT pg_advisory_unlock(%s)", (INDEX_LOCK,))


# ---------------------------------------------------------------------------------------------
# Documents: SQL produces them (see schema), Python only lays out the commands


def _commands(
    s: Session, index: str, schema: IndexSchema, rows: list[tuple[Any, ...]], *, fresh: bool
) -> list[tuple[Any, ...]]:
    return commands_for(s.dialect, index, schema, rows, fresh=fresh)


def _send(s: Session, commands: list[tuple[Any, ...]]) -> int:
    """Pipeline the commands; return how many the server refused (the first is logged)."""
    if not commands:
        return 0
    pipe = s.redis.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    results = pipe.execute(raise_on_error=False)
    errors = [r for r in results if isinstance(r, Exception)]
    if errors:
        log.error("the search server refused %d of %d commands, first: %s", len(errors), len(commands), errors[0])
    return len(errors)


def _chunks(
    s: Session, schema: IndexSchema, where: str, params: dict[str, Any], chunk: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Customers' documents in id order, `chunk` at a time (keyset pagination over id)."""
    return _keyset(s, schema.documents_sql(f"({where}) AND id > %(after)s", limit=True), params, chunk)


def _keyset(s: Session, sql: str, params: dict[str, Any], chunk: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows of `sql` (id first, `id > %(after)s`, `LIMIT %(limit)s`) a chunk at a time."""
    after = 0
    while True:
        rows = s.conn.execute(sql, {**params, "after": after, "limit": chunk}).fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


class _RawText(Loader):
    """Text columns as the bytes PostgreSQL sent: the encoded commands go to Redis as they
    are, never decoded into str and encoded again."""

    def load(self, data: Buffer) -> bytes:
        return bytes(data)


def _encoded_chunks(s: Session, sql: str, params: dict[str, Any], chunk: int) -> Iterator[tuple[int, bytes]]:
    """(documents, their encoded commands) of `sql` (rows of `(id, commands)`, `id > %(after)s`,
    `LIMIT %(limit)s`), a chunk at a time: PostgreSQL joins each chunk into one value, so
    Python handles one row per chunk, not one per document."""
    query = f"SELECT count(*), max(e.id), string_agg(e.commands, '') FROM ({sql}) AS e(id, commands)"
    after = 0
    with s.conn.cursor() as cur:
        cur.adapters.register_loader("text", _RawText)
        while True:
            row = cur.execute(query, {**params, "after": after, "limit": chunk}).fetchone()
            if row is None or not row[0]:
                return
            yield int(row[0]), row[2]
            after = row[1]


class RawStream:
    """Pipelined writes over one socket of its own that never leave the server idle: chunk
    k+1 is sent before the replies of chunk k are read. Commands come encoded (RESP) from
    PostgreSQL, so this thread only moves bytes.

    Replies are counted, not parsed one by one: every command sent here (HSET, DEL, FT.ADD,
    FT.DEL, AUTH, SELECT) answers with a single line (an integer, +OK or an -error) and such
    a line never holds a line feed, so each reply ends with exactly one LF; an error reply is
    a line starting with "-". Anything else (a bulk or array reply) stops the rebuild."""

    READ = 1 << 16
    # seconds without a byte from the server: on 1.x a chunk of FT.ADDs takes a while, and
    # the next chunk is queued behind it
    TIMEOUT = 60.0

    def __init__(self, settings: Settings) -> None:
        self.sock = socket.create_connection((settings.services_redis_host, settings.services_redis_port), timeout=2.0)
        self.sock.settimeout(self.TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray(self.READ)
        self.unread = 0
        self.failed = 0
        self.line_start = True  # the next byte received begins a reply
        hello: list[tuple[Any, ...]] = []
        if settings.services_redis_password is not None:
            hello.append(("AUTH", settings.services_redis_password.get_secret_value()))
        if settings.services_redis_db:
            hello.append(("SELECT", settings.services_redis_db))
        if hello:
            self.send((len(hello), b"".join(_resp(c) for c in hello)))
            self.drain()  # until every reply is in
            if self.failed:
                self.sock.close()
                raise SearchUnavailable("Redis refused the rebuild's connection (AUTH or SELECT failed)")

    def send(self, encoded: tuple[int, bytes]) -> None:
        """Send a chunk, then wait for the replies of the chunk before it."""
        count, packed = encoded
        self.sock.sendall(packed)
        self.unread += count
        self.drain(until=count)

    def drain(self, until: int = 0) -> None:
        """Read replies until at most `until` are outstanding (a read may reach into the
        replies of the chunk just sent)."""
        while self.unread > until:
            size = self.sock.recv_into(self.buffer)
            if size == 0:
                raise ConnectionError("the search server closed the connection during a rebuild")
            self._scan(bytes(self.buffer[:size]))
        if self.unread < 0:
            raise SearchIndexError("the search server sent more replies than there were commands")

    def _scan(self, data: bytes) -> None:
        """Count the replies that end in `data`, and the errors among those that begin there."""
        starts = b"\n" + data if self.line_start else data  # an LF before every reply's first byte
        if b"\n$" in starts or b"\n*" in starts:
            raise SearchIndexError("the search server answered a document write with a value, not a status")
        errors = starts.count(b"\n-")
        if errors:
            if not self.failed:
                first = starts[starts.index(b"\n-") + 1 :].split(b"\r", 1)[0]
                log.error("the search server refused a document write: %s", first.decode(errors="replace"))
            self.failed += errors
        self.unread -= data.count(b"\n")
        self.line_start = data.endswith(b"\n")

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self.sock.close()


def _resp(command: tuple[Any, ...]) -> bytes:
    """One command in the Redis protocol."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in command]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def _write_all(
    s: Session,
    indexes: list[str],
    schema: IndexSchema,
    where: str,
    params: dict[str, Any],
    *,
    fresh: bool,
    total: int = 0,
    progress: Progress | None = None,
    lock: _Lock | None = None,
) -> int:
    """Write the matching customers into `indexes`. A second thread fetches the next chunk's
    documents from PostgreSQL and encodes its commands while this one writes the current
    chunk, whose replies are read only after the next chunk is on its way."""
    chunk = s.settings.search_chunk_size
    written = 0
    stream = RawStream(s.settings) if isinstance(s.redis, redis.Redis) and len(indexes) == 1 else None
    if stream is not None:
        # PostgreSQL encodes the commands: the bulk path only moves bytes
        sql, per_row = encoded_sql(s.dialect, indexes[0], schema, f"({where}) AND id > %(after)s", fresh=fresh)
        encoded = _encoded_chunks(s, sql, params, chunk)
    else:
        source = _chunks(s, schema, where, params, chunk)

    def prepare() -> tuple[int, Any] | None:
        if stream is not None:
            found = next(encoded, None)
            if found is None:
                return None
            documents, payload = found
            return documents, (documents * per_row, payload)
        plain = next(source, None)
        if plain is None:
            return None
        commands: list[tuple[Any, ...]] = []
        for index in indexes:
            commands += _commands(s, index, schema, plain, fresh=fresh)
        return len(plain), commands

    failed = 0
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-prepare") as pool:
            pending: Future[tuple[int, Any] | None] = pool.submit(prepare)
            while (ready := pending.result()) is not None:
                pending = pool.submit(prepare)
                count, payload = ready
                if stream is not None:
                    stream.send(payload)
                else:  # the cluster client routes commands itself
                    failed += _send(s, payload)
                written += count
                if lock is not None:
                    lock.refresh()
                if progress is not None:
                    progress(written, total)
    finally:
        if stream is not None:
            stream.close()
            failed += stream.failed
    if failed:
        raise SearchIndexError(f"the search server refused {failed} document writes (see the log)")
    return written


def _create(s: Session, schema: IndexSchema) -> str:
    version = int(s.redis.incr(IndexState.VERSION))  # type: ignore[arg-type]
    index = IndexState.index_name(version)
    s.redis.sadd(IndexState.INDEXES, index)
    s.redis.set(IndexState.SCHEMA + index, schema.to_json())
    s.redis.execute_command(*s.dialect.create(index, IndexState.doc_prefix(index), schema.declaration()))
    return index


UNLINK_BATCH = 500  # document keys per UNLINK: the server stays responsive between batches
DROP_TIMEOUT = 300.0  # seconds; dropping a big index frees its structures within the command


def _drop(s: Session, index: str) -> None:
    """Drop an index, then its documents a batch at a time. At a million customers a drop ran
    2–8 s inside the server, past the client's 5 s timeout, and the client's resend of the
    timed-out drop failed with "Unknown Index name": the drop waits long, and no client of ours
    resends a command that timed out (`client.RETRY_ON`). Unlinking the documents afterwards in
    batches keeps that one command as short as the server allows (freeing the index itself
    still took 2–4 s at 1M) and lets other clients in between batches. Safe to repeat: an
    interrupted drop leaves the index in `IndexState.INDEXES`, and the next run removes what is left."""
    # its own client: the drop may take longer than a reply is otherwise waited for
    slow = connect(s.settings, timeout=DROP_TIMEOUT)
    try:
        slow.execute_command(*s.dialect.drop(index))
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
            removed += int(client.unlink(*batch))  # type: ignore[arg-type]
            batch = []
    if batch:
        removed += int(client.unlink(*batch))  # type: ignore[arg-type]
    return removed


def _switch(s: Session, index: str) -> None:
    pipe = s.redis.pipeline(transaction=True)
    for command in s.dialect.switch(IndexState.ALIAS, index):
        pipe.execute_command(*command)
    pipe.set(IndexState.CURRENT, index)
    pipe.delete(IndexState.BUILDING)
    pipe.execute()


def _count(s: Session) -> int:
    row = s.conn.execute("SELECT count(*) FROM customers").fetchone()
    return int(row[0]) if row else 0


# ---------------------------------------------------------------------------------------------
# Public operations


def init_index(settings: Settings, *, load_docs: bool = False, progress: Progress | None = None) -> int | None:
    """Create the index if there is none; return the number of documents loaded (0 without
    `load_docs`), or None when an index already existed."""
    with open_session(settings) as s, _Lock(s) as lock:
        current = s.current()
        if current is not None and s.num_docs(current) is not None:
            return None
        schema = IndexSchema.from_questionnaire(load_questionnaire(s.conn))
        index = _create(s, schema)
        run = _record_start(s.conn, index, "init", s.dialect)
        loaded = 0
        if load_docs:
            s.redis.set(IndexState.BUILDING, index, ex=IndexState.BUILDING_TTL)
            loaded = _write_all(
                s, [index], schema, "TRUE", {}, fresh=True, total=_count(s), progress=progress, lock=lock
            )
        _switch(s, index)
        _record_end(s.conn, run, "done", loaded)
        return loaded


def flush_index(settings: Settings) -> int:
    """Drop every index of ours with all its documents; return how many were dropped."""
    with open_session(settings) as s, _Lock(s):
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


CATCH_UP_MARGIN = dt.timedelta(seconds=60)  # writers' transactions that started before the rebuild


def migrate_index(
    settings: Settings,
    *,
    load_docs: bool = True,
    progress: Progress | None = None,
) -> MigrateResult:
    """Build a new index version from the questionnaire in force, load it in chunks, catch up
    the writes made meanwhile, switch to it atomically and drop the old one.

    Queries are answered by the old index until the switch; if the rebuild stops half-way the
    old index keeps serving and the next run drops the leftover and starts afresh."""
    started = time.monotonic()
    with open_session(settings) as s, _Lock(s) as lock:
        previous = s.current()
        for leftover in s.indexes() - {previous}:
            log.info("dropping %s, left over by an interrupted rebuild", leftover)
            _drop(s, leftover)
        schema = IndexSchema.from_questionnaire(load_questionnaire(s.conn))
        index = _create(s, schema)
        run = _record_start(s.conn, index, "migrate", s.dialect)
        try:
            # from here on the write path also writes to the new index
            s.redis.set(IndexState.BUILDING, index, ex=IndexState.BUILDING_TTL)
            since_row = s.conn.execute("SELECT now() - %s", (CATCH_UP_MARGIN,)).fetchone()
            assert since_row is not None
            since = since_row[0]
            loaded = 0
            if load_docs:
                loaded = _write_all(
                    s, [index], schema, "TRUE", {}, fresh=True, total=_count(s), progress=progress, lock=lock
                )
            caught = _write_all(s, [index], schema, "updated_at >= %(since)s", {"since": since}, fresh=False)
            second_row = s.conn.execute("SELECT now() - %s", (CATCH_UP_MARGIN,)).fetchone()
            assert second_row is not None
            _switch(s, index)
            caught += _write_all(s, [index], schema, "updated_at >= %(since)s", {"since": second_row[0]}, fresh=False)
        except BaseException as exc:
            # the old index keeps serving; the half-built one is dropped now or by the next run
            with suppress(psycopg.Error):
                _record_end(s.conn, run, "failed", 0, f"{type(exc).__name__}: {exc}")
            with suppress(*REDIS_ERRORS):
                if s.current() != index:
                    s.redis.delete(IndexState.BUILDING)
                    _drop(s, index)
            raise
        dropped = []
        if previous is not None and previous != index:
            _drop(s, previous)
            dropped.append(previous)
        _record_end(s.conn, run, "done", loaded)
        return MigrateResult(index, previous, loaded, caught, dropped, round(time.monotonic() - started, 3))


def index_status(settings: Settings) -> dict[str, Any]:
    """Current index, its document count against the customers count, the last rebuild."""
    with open_session(settings) as s:
        current = s.current()
        building = text(s.redis.get(IndexState.BUILDING))
        last = s.conn.execute(_LAST_RUN).fetchone()
        cols = ("index", "action", "dialect", "started_at", "finished_at", "status", "documents", "error")
        return {
            "dialect": s.dialect.name,
            "index": current,
            "documents": s.num_docs(current) if current else None,
            "customers": _count(s),
            "building": building,
            "last_rebuild": dict(zip(cols, last, strict=False)) if last else None,
        }


def reindex_ids(settings: Settings, ids: Iterable[int]) -> int:
    """Write these customers' documents again (removing those that no longer exist); return
    how many documents were written."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return 0
    with open_session(settings) as s:
        return _reindex(s, wanted)


def _reindex(s: Session, wanted: list[int]) -> int:
    indexes = s.targets()
    if not indexes:
        return 0
    written = 0
    for index in indexes:
        schema = s.schema_of(index)
        if schema is None:
            continue
        written = _write_all(s, [index], schema, "id = ANY(%(ids)s)", {"ids": wanted}, fresh=False)
        found = {r[0] for r in s.conn.execute("SELECT id FROM customers WHERE id = ANY(%s)", (wanted,))}
        gone = [i for i in wanted if i not in found]
        _send(s, [s.dialect.delete(index, IndexState.doc_key(index, i)) for i in gone])
    return written


def reindex_since(settings: Settings, since: dt.datetime) -> int:
    """Write the documents of every customer changed (updated_at) at or after `since`, e.g.
    after a bulk import commits; return how many were written."""
    with open_session(settings) as s:
        written = 0
        for index in s.targets():
            schema = s.schema_of(index)
            if schema is not None:
                written = _write_all(s, [index], schema, "updated_at >= %(since)s", {"since": since}, fresh=False)
        return written


# ---------------------------------------------------------------------------------------------
# Consistency: the index against PostgreSQL


@dataclass
class ConsistencyReport:
    """Counts on both sides, a sample compared field by field, and what was repaired."""

    index: str | None
    customers: int
    documents: int | None
    sampled: int
    drifted: list[int] = field(default_factory=list)  # document differs from the database
    missing: list[int] = field(default_factory=list)  # customer without a document
    stale: list[int] = field(default_factory=list)  # document without a customer
    repaired: int = 0

    @property
    def consistent(self) -> bool:
        return self.customers == self.documents and not (self.drifted or self.missing or self.stale)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "consistent": self.consistent}


def check_consistency(settings: Settings, *, sample: int = 200, repair: bool = False) -> ConsistencyReport:
    """Compare the index with PostgreSQL: counts, every id (a SCAN of the index's keys), and
    `sample` random customers field by field. With `repair`, drifted and missing customers are
    re-indexed and stale documents removed."""
    with open_session(settings) as s:
        index = s.current()
        customers = _count(s)
        if index is None:
            return ConsistencyReport(None, customers, None, 0)
        schema = s.schema_of(index)
        documents = s.num_docs(index)
        report = ConsistencyReport(index, customers, documents, 0)
        if schema is None:
            return report
        rows = s.conn.execute(
            schema.documents_sql("id IN (SELECT id FROM customers ORDER BY random() LIMIT %(n)s)"), {"n": sample}
        ).fetchall()
        report.sampled = len(rows)
        pipe = s.redis.pipeline(transaction=False)
        for row in rows:
            pipe.hgetall(IndexState.doc_key(index, row[0]))
        stored = pipe.execute()
        names = schema.document_columns()
        for row, doc in zip(rows, stored, strict=False):
            expected = {n: v for n, v in zip(names, row[1:], strict=False) if v is not None}
            if not doc:
                report.missing.append(row[0])
            elif not _same(expected, doc):
                report.drifted.append(row[0])
        # equal counts can hide a missing and a stale document: compare the ids themselves
        indexed = _indexed_ids(s, index)
        in_db = {r[0] for r in s.conn.execute("SELECT id FROM customers")}
        report.missing = sorted(set(report.missing) | (in_db - indexed))
        report.stale = sorted(indexed - in_db)
        if repair and (report.drifted or report.missing or report.stale):
            report.repaired = _reindex(s, sorted(set(report.drifted) | set(report.missing) | set(report.stale)))
        return report


def _same(expected: dict[str, Any], doc: dict[str, str]) -> bool:
    if set(expected) != set(doc):
        return False
    for name, value in expected.items():
        if isinstance(value, (int, float)):
            try:
                if float(doc[name]) != float(value):
                    return False
            except ValueError:
                return False
        elif str(value) != doc[name] and sorted(str(value).split("\x1f")) != sorted(doc[name].split("\x1f")):
            return False  # tag lists: the order of elements does not matter
    return True


def _indexed_ids(s: Session, index: str) -> set[int]:
    """Ids of every document of the index (a SCAN over its own key prefix)."""
    prefix = IndexState.doc_prefix(index)
    ids: set[int] = set()
    for key in s.redis.scan_iter(match=f"{prefix}*", count=10_000):
        tail = key[len(prefix) :]
        if tail.isdigit():
            ids.add(int(tail))
    return ids
