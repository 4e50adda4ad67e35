"""Counting what a connection says to PostgreSQL, from libpq's trace of the protocol messages.

libpq writes every message it sends (`F`) and receives (`B`) to the trace. A round trip is a run
of messages sent followed by the answers read before the next is sent; a statement is one
`Execute` (extended protocol) or `Query` (simple protocol) message. Nothing is mocked: the
connection talks to the real server, and the trace is the wire as libpq sees it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from psycopg import pq

from customers.db import AsyncConn


@dataclass
class Traffic:
    """What one traced stretch of a connection sent and received."""

    round_trips: int = 0
    statements: list[str] = field(default_factory=list)


def parse_trace(text: str) -> Traffic:
    traffic = Traffic()
    last = None
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        direction, kind = parts[0], parts[2]
        if direction == "F" and last != "F":
            traffic.round_trips += 1
        if direction == "F" and kind in ("Execute", "Query"):
            traffic.statements.append(kind if kind == "Execute" else parts[3].strip())
        last = direction
    return traffic


@contextmanager
def round_trips(conn: AsyncConn) -> Iterator[Traffic]:
    """`with round_trips(conn) as seen: ...` traces `conn` inside the block; `seen` then holds the
    round trips and statements it made."""
    traffic = Traffic()
    with tempfile.TemporaryFile() as trace:
        # libpq writes through a stdio stream of its own on this descriptor, flushed when the
        # trace stops
        fd = os.dup(trace.fileno())
        conn.pgconn.trace(fd)
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield traffic
        finally:
            conn.pgconn.untrace()
            os.close(fd)
            trace.seek(0)
            seen = parse_trace(trace.read().decode("utf-8", "replace"))
            traffic.round_trips = seen.round_trips
            traffic.statements = seen.statements
