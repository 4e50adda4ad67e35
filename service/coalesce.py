"""Concurrent point lookups coalesced into one query.

Under load a worker has many lookups of the same kind waiting at once (the till's get-by-phone).
Each on its own pays a pool checkout, a driver round trip and its event-loop wake-ups, which
together cost more than the lookup's own work in PostgreSQL. A `Coalescer` collects the keys
asked for while the loop is busy and answers them with one `= ANY(keys)` query: one checkout,
one round trip, one statement for all of them. A lone request is sent at once (batch of one).

Freshness is that of a query per request: a key waits for the next query rather than joining one
already sent, so every lookup reads data at least as recent as its arrival.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

K = TypeVar("K", bound=Hashable)
Fetch = Callable[[psycopg.AsyncConnection[Any], list[Any]], Awaitable[dict[Any, bytes]]]

MAX_BATCH = 256  # keys per query: bounds the statement's size and one batch's latency
MAX_IN_FLIGHT = 2  # queries of one kind at once: overlaps a round trip with the next batch forming


class Coalescer(Generic[K]):
    """Lookups by one kind of key, answered by `fetch(conn, keys) -> {key: document}`."""

    def __init__(self, pool: AsyncConnectionPool, fetch: Fetch) -> None:
        self._pool = pool
        self._fetch = fetch
        self._pending: dict[K, list[asyncio.Future[bytes | None]]] = {}
        self._scheduled = False
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # referenced until done

    async def get(self, key: K) -> bytes | None:
        """The document for `key`, or None; the query's error (already translated) if it failed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        waiting = self._pending.get(key)
        if waiting is None:
            self._pending[key] = [future]
        else:
            waiting.append(future)
        if not self._scheduled and self._in_flight < MAX_IN_FLIGHT:
            # sent once the loop has run what is ready now: requests read in the same pass join
            self._scheduled = True
            loop.call_soon(self._send)
        return await future

    def _send(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        if len(self._pending) <= MAX_BATCH:
            batch, self._pending = self._pending, {}
        else:
            keys = list(self._pending)[:MAX_BATCH]
            batch = {key: self._pending.pop(key) for key in keys}
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._answer(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._pending and self._in_flight < MAX_IN_FLIGHT:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._send)

    async def _answer(self, batch: dict[K, list[asyncio.Future[bytes | None]]]) -> None:
        try:
            async with self._pool.connection() as conn:
                found = await self._fetch(conn, list(batch))
        except asyncio.CancelledError:
            for futures in batch.values():
                for future in futures:
                    future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiter, which raises it
            for futures in batch.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
        else:
            for key, futures in batch.items():
                document = found.get(key)
                for future in futures:
                    if not future.done():  # its request may have gone (client disconnected)
                        future.set_result(document)
        finally:
            self._in_flight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._send)

    async def aclose(self) -> None:
        """Wait for the queries sent (at shutdown, before the pool closes)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
