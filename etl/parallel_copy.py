"""Parallel COPY: validated frames into chunk tables over several sessions at once.

Each session takes the next validated frame, sets aside the rows repeating a phone of an earlier
row of the frame (they are DUPLICATE_PHONE whatever the database holds; the first row wins),
flags the rows whose phone an earlier frame may have held (`etl.seen_phones`), sorts the
rest by phone, creates the frame's chunk table, COPYs the rows in (`FREEZE`: the table
is new in that transaction) and commits, so that the merging session can read it. The merging
session, the one part of a load that cannot run in parallel, thereby neither sorts nor looks for
repeats within a chunk: it inserts the rows in the order they were copied, which is the phone
index's order. The chunk tables are not `customers`: nothing a session commits here is visible
as a customer until the one merge transaction commits (see `etl.chunk_merge`). The parsing of
the CSV text and of the JSON members, the largest part of PostgreSQL's work for a load, thus
runs in several backends while one backend merges.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import psycopg

from etl.load import copy_frames, copy_staged_statement
from etl.read import ROW
from etl.seen_phones import SeenPhones
from etl.staging import chunk_table, create_chunk_statement
from etl.validate import ValidatedBatch


@dataclass
class Chunk:
    """One committed chunk table: what its frame held."""

    number: int
    rows: int
    read: int
    rejects: pl.DataFrame
    # rows repeating a phone of an earlier row of the same frame: `__row`, `phone`
    duplicates: pl.DataFrame
    # `__row` of the chunk's rows whose phone an earlier frame may have held (`etl.seen_phones`)
    seen: pl.Series


class ParallelCopy:
    """`sessions` threads, each with its own connection, COPYing validated frames into chunk
    tables; `chunk(n)` waits for chunk n (in file order)."""

    def __init__(self, conninfo: str, run_id: int, batches: Iterator[ValidatedBatch], sessions: int) -> None:
        self.conninfo = conninfo
        self.run_id = run_id
        self.copy_seconds = 0.0
        self._batches = batches
        self._seen = SeenPhones()
        self._take = threading.Lock()
        self._changed = threading.Condition()
        self._next = 0
        self._ready: dict[int, Chunk] = {}
        self._total: int | None = None
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._session, name=f"import-copy-{i}", daemon=True) for i in range(sessions)
        ]

    def __enter__(self) -> ParallelCopy:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def chunk(self, number: int) -> Chunk | None:
        """Chunk `number` once committed, None when the file had fewer chunks; re-raises the
        error of any session."""
        with self._changed:
            while True:
                if self._error is not None:
                    raise self._error
                if number in self._ready:
                    return self._ready.pop(number)
                if self._total is not None and number >= self._total:
                    return None
                self._changed.wait()

    def _session(self) -> None:
        try:
            with psycopg.connect(self.conninfo) as conn:
                # a chunk's commit need not wait for the disk: a crash ends the load anyway
                conn.execute("SET synchronous_commit = off")
                conn.commit()
                while not self._stop.is_set():
                    with self._take:
                        batch = next(self._batches, None)
                        number = self._next
                        if batch is None:
                            self._finish(number)
                            return
                        self._next += 1
                        # marked here, where frames are taken in file order
                        seen = self._seen.mark(batch.good.get_column("phone"))
                    clock = time.monotonic()
                    good, duplicates = split_repeats(batch.good.with_columns(seen))
                    self._copy(conn, number, good)
                    flagged = good.filter("seen").get_column(ROW)
                    done = Chunk(number, good.height, batch.read, batch.rejects, duplicates, flagged)
                    with self._changed:
                        self.copy_seconds += time.monotonic() - clock
                        self._ready[number] = done
                        self._changed.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the merging thread, raised there
            with self._changed:
                self._error = self._error or exc
                self._stop.set()
                self._changed.notify_all()

    def _copy(self, conn: psycopg.Connection[Any], number: int, good: pl.DataFrame) -> None:
        conn.execute(create_chunk_statement(self.run_id, number))
        with conn.cursor().copy(copy_staged_statement(chunk_table(self.run_id, number))) as copy:
            copy_frames(copy, good)
        conn.commit()

    def _finish(self, total: int) -> None:
        with self._changed:
            self._total = total if self._total is None else min(self._total, total)
            self._changed.notify_all()


def split_repeats(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A validated frame's rows in phone order without the rows repeating an earlier row's phone,
    and those rows (`__row`, `phone`). Frames arrive in file order, so the first row wins."""
    first = good.get_column("phone").is_first_distinct()
    repeats = good.filter(~first).select(ROW, "phone")
    return good.filter(first).sort("phone"), repeats
