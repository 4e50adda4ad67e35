"""Leader election: a session-level PostgreSQL advisory lock held on a dedicated connection.

The lock lives exactly as long as the session: a leader that exits, crashes or loses its
connection releases it, and a follower's next attempt takes it over. Server-side TCP keepalives
make PostgreSQL notice a vanished host, so its lock does not outlive it for long (how long:
docs/jobs.md, "One leader").
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any

import psycopg

log = logging.getLogger("customers.jobs")

# pg_try_advisory_lock key of the scheduler leader ("cust" "sche" as two int4)
LEADER_LOCK = 0x63757374_73636865 & 0x7FFFFFFFFFFFFFFF

_HOLDS = """
SELECT EXISTS (SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                  AND classid = (%(key)s >> 32)::oid AND objid = (%(key)s & 4294967295)::oid AND objsubid = 1)"""

LEADER_QUERY = """
SELECT a.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start
  FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
   AND l.classid = (%(key)s >> 32)::oid AND l.objid = (%(key)s & 4294967295)::oid"""


def identity() -> str:
    """How this process names itself to PostgreSQL (shown as the leader)."""
    return f"customers-scheduler {socket.gethostname()}:{os.getpid()}"[:63]


class Lease:
    """The leader lock and its connection; every method is safe to call when disconnected."""

    def __init__(self, conninfo: str, key: int = LEADER_LOCK) -> None:
        self.conninfo = conninfo
        self.key = key
        self.conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.close()
            conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                application_name=identity(),
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
                tcp_user_timeout=20000,
                connect_timeout=10,
            )
            # the server drops the session (and so the lock) of a leader whose host vanished
            for name, value in (
                ("tcp_keepalives_idle", 10),
                ("tcp_keepalives_interval", 5),
                ("tcp_keepalives_count", 3),
            ):
                conn.execute(f"SET {name} = {value}")
            self.conn = conn
        return self.conn

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False (never an error) otherwise."""
        try:
            row = self._connect().execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            return bool(row and row[0])
        except psycopg.Error as exc:
            log.warning(
                "cannot reach PostgreSQL to take the scheduler lock: %s",
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            )
            self.close()
            return False

    def held(self) -> bool:
        """Whether this session still holds the lock (False when the connection is gone)."""
        if self.conn is None or self.conn.closed:
            return False
        try:
            row = self.conn.execute(_HOLDS, {"key": self.key}).fetchone()
            return bool(row and row[0])
        except psycopg.Error:
            self.close()
            return False

    def release(self) -> None:
        """Give the lock up (closing the session releases it too)."""
        if self.conn is not None and not self.conn.closed and not self.conn.broken:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
        self.conn = None
