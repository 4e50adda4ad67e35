"""Concurrent point requests coalesced into one statement: lookups, and writes (service.write_batches).

Under load a worker has many lookups of the same kind waiting at once (the till's get-by-phone).
Each on its own pays a pool checkout, a driver round trip and its event-loop wake-ups, which
together cost more than the lookup's own work in PostgreSQL. A `Coalescer` collects the keys
asked for while the loop is busy and answers them with one `= ANY(keys)` query: one checkout,
one round trip, one statement for all of them. A lone request is sent at once (batch of one).

Freshness is that of a query per request: a key waits for the next query rather than joining one
already sent, so every lookup reads data at least as recent as its arrival.

A write's batch is `detached`: it is sent by a task of its own, which a request that goes away
does not stop. A statement sent is answered to each of its waiters still there; it is never sent
again for the others, as a lookup's batch is when the request that sent it goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from psycopg_pool import AsyncConnectionPool

from customers.db import AsyncConn

K = TypeVar("K", bound=Hashable)
Fetch = Callable[[AsyncConn, list[Any]], Awaitable[dict[Any, bytes]]]

MAX_BATCH = 256  # keys per query: bounds the statement's size and one batch's latency
MAX_IN_FLIGHT = 2  # queries of one kind at once: overlaps a round trip with the next batch forming


class Coalescer(Generic[K]):
    """Requests of one kind, by key, answered by `fetch(conn, keys) -> {key: document}`."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        fetch: Fetch,
        *,
        enabled: bool = True,
        detached: bool = False,
        lone_to_caller: bool = False,
    ) -> None:
        self._pool = pool
        self._fetch = fetch
        # a batch of one key answered None at once, no statement: its caller makes it alone (writes)
        self._lone_to_caller = lone_to_caller
        self._enabled = enabled  # off: every request is its own statement (`lookup_coalescing`, `write_coalescing`)
        self._detached = detached  # batches sent by tasks of their own (writes)
        self._pending: dict[K, list[asyncio.Future[bytes | None]]] = {}
        self._forming = False  # a request is about to send the batch it leads
        self._scheduled = False  # a task is about to send one
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()  # referenced until done

    async def get(self, key: K) -> bytes | None:
        """The document for `key`, or None; the query's error (already translated) if it failed."""
        if not self._enabled:
            async with self._pool.connection() as conn:
                return (await self._fetch(conn, [key])).get(key)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        waiting = self._pending.get(key)
        if waiting is None:
            self._pending[key] = [future]
        else:
            waiting.append(future)
        if self._forming or self._scheduled or self._in_flight >= MAX_IN_FLIGHT:
            # a batch is forming, or the queries allowed are out: a coming batch takes the key
            return await future
        # This request sends the next batch itself (no task to start): first the loop runs what
        # is ready now, so that the requests read in the same pass join the batch.
        self._forming = True
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            self._forming = False
            future.cancel()
            self._send_later()  # the keys that joined go out without it
            raise
        self._forming = False
        if self._detached:
            self._start(self._take())
            return await future
        self._in_flight += 1
        try:
            await self._answer(self._take())
        except asyncio.CancelledError:
            future.cancel()
            raise
        finally:
            self._in_flight -= 1
            self._send_later()
        return await future

    def _take(self) -> dict[K, list[asyncio.Future[bytes | None]]]:
        if len(self._pending) <= MAX_BATCH:
            batch, self._pending = self._pending, {}
            return batch
        return {key: self._pending.pop(key) for key in list(self._pending)[:MAX_BATCH]}

    def _send_later(self) -> None:
        """Have a task send what is pending, once the loop has run what is ready now."""
        if self._pending and not (self._scheduled or self._forming) and self._in_flight < MAX_IN_FLIGHT:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._send)

    def _send(self) -> None:
        self._scheduled = False
        if not self._pending or self._in_flight >= MAX_IN_FLIGHT:
            return
        self._start(self._take())
        self._send_later()  # more than one batch's worth waiting

    def _start(self, batch: dict[K, list[asyncio.Future[bytes | None]]]) -> None:
        """Send `batch` from a task of its own, counted in flight from now."""
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._answer(batch))
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        self._send_later()

    async def _answer(self, batch: dict[K, list[asyncio.Future[bytes | None]]]) -> None:
        """Send `batch` and answer its waiters (the caller counts it in flight). A key whose
        waiters have all gone is not sent."""
        batch = {key: futures for key, futures in batch.items() if not all(f.done() for f in futures)}
        try:
            if not batch:
                return
            found: Mapping[K, bytes | None] = {}
            if len(batch) > 1 or not self._lone_to_caller:
                async with self._pool.connection() as conn:
                    found = await self._fetch(conn, list(batch))
        except asyncio.CancelledError:
            # the request that sent the batch went away: the others' keys go out again; a
            # write's batch is stopped only with the loop, its outcome unknown to its waiters
            for key, futures in batch.items():
                live = [future for future in futures if not future.done()]
                if self._detached:
                    for future in live:
                        future.cancel()
                elif live:
                    self._pending.setdefault(key, []).extend(live)
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

    async def aclose(self) -> None:
        """Wait for the queries sent, and for those they send when done (at shutdown, before the
        pool closes)."""
        while self._tasks or self._scheduled or self._forming:
            if self._tasks:
                await asyncio.wait(self._tasks)  # not cancelled with this wait
            else:
                await asyncio.sleep(0)  # a batch is about to be sent
