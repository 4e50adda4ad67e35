"""The bulk write path of rebuilds and re-indexing: customers' documents read from PostgreSQL a
chunk at a time (keyset pagination over id) and written into the index without leaving the
server idle. For a single Redis server PostgreSQL encodes the commands in the Redis protocol
(`documents.encoded_sql`) and `RawStream` only moves bytes; a cluster client gets plain command
pipelines and routes them itself.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import redis
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from customers.config import Settings
from customers.errors import CustomersError
from customers.search.client import SearchUnavailable
from customers.search.documents import Command, commands_for, encoded_sql
from customers.search.runs import IndexLock
from customers.search.schema import IndexSchema
from customers.search.session import Session

log = logging.getLogger(__name__)

RebuildProgress = Callable[[int, int], None]  # (documents written so far, customers to write)


class SearchIndexError(CustomersError):
    """The server refused documents; the rebuild was abandoned and the old index still serves."""

    code = "SEARCH_INDEX_ERROR"
    status = 500


def send_commands(s: Session, commands: list[Command]) -> int:
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


def _document_chunks(
    s: Session, schema: IndexSchema, where: str, params: dict[str, Any], chunk: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Customers' documents in id order, `chunk` at a time (keyset pagination over id)."""
    sql = schema.documents_sql(f"({where}) AND id > %(after)s", limit=True)
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
            self.send((len(hello), b"".join(encode_command(c) for c in hello)))
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


def encode_command(command: Command) -> bytes:
    """One command in the Redis protocol."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in command]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def write_all(
    s: Session,
    indexes: list[str],
    schema: IndexSchema,
    where: str,
    params: dict[str, Any],
    *,
    fresh: bool,
    total: int = 0,
    progress: RebuildProgress | None = None,
    lock: IndexLock | None = None,
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
        source = _document_chunks(s, schema, where, params, chunk)

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
        commands: list[Command] = []
        for index in indexes:
            commands += commands_for(s.dialect, index, schema, plain, fresh=fresh)
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
                    failed += send_commands(s, payload)
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
