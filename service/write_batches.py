"""The worker's creates and updates of customers: concurrent ones made by one statement.

Under load a worker has several creates, and several updates, waiting at once. Each on its own
pays a pool checkout, a driver round trip, its event-loop wake-ups and PostgreSQL's per-statement
work, which together cost more than writing its row. The writes of one kind that arrive while the
loop is busy are collected (service.coalesce, detached: a batch sent is answered, never sent
again) and made by one statement (`customer_writes.create_customers_json`,
`update_customers_json`); a lone write is made by the single statement, as without batches.

The batches run on a small pool of their own, whose connections plan each statement once and
wait for a row's lock briefly (`customer_writes.set_up_batch_connection`): at most
`MAX_IN_FLIGHT` statements of each kind at once. A lone write, and a write left out of its
batch, run on the worker's pool, as every write does with `write_coalescing` off.

A write its batch's statement leaves out (its phone or email taken, its input refused, a key
removed, the questionnaire changed: the core functions list when) is then made on its own by the
single statement, which gives it the answer it would have had alone: 201/200, 409, 404 or 422.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from psycopg_pool import AsyncConnectionPool

from customers import customer_writes
from customers.db import AsyncConn
from customers.models import CustomerCreate, CustomerUpdate
from customers.settings_store import QuestionnaireCache
from service.coalesce import MAX_IN_FLIGHT, Coalescer

Item = TypeVar("Item")


class _Waiting(Generic[Item]):
    """A write waiting for its statement: a key of its own (told apart by identity)."""

    __slots__ = ("item",)

    def __init__(self, item: Item) -> None:
        self.item = item


class _Batched(Generic[Item]):
    """Writes of one kind: `many(conn, items)` makes several on a connection of `batches` (None
    for each left out), `single(conn, item)` one on a connection of `pool` (or raises its error):
    a lone write, and each write left out of its batch. `batches` None: every write alone."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        batches: AsyncConnectionPool | None,
        single: Callable[[AsyncConn, Item], Awaitable[bytes]],
        many: Callable[[AsyncConn, list[Item]], Awaitable[list[bytes | None]]],
    ) -> None:
        self._pool = pool
        self._single = single
        self._many = many
        self._batches: Coalescer[_Waiting[Item]] | None = None
        if batches is not None:
            # a lone write is left to its request, which makes it alone in its own task, outside
            # the batches' statements in flight: a write waiting for a row held elsewhere holds up
            # no other
            self._batches = Coalescer(batches, self._write, detached=True, lone_to_caller=True)

    async def write(self, item: Item) -> bytes:
        """The written customer's JSON document; the error of a write refused."""
        if self._batches is not None:
            document = await self._batches.get(_Waiting(item))
            if document is not None:
                return document
        async with self._pool.connection() as conn:  # alone, or left out of its batch: made (or refused) on its own
            return await self._single(conn, item)

    async def _write(self, conn: AsyncConn, batch: list[_Waiting[Item]]) -> dict[_Waiting[Item], bytes]:
        documents = await self._many(conn, [waiting.item for waiting in batch])
        return {waiting: document for waiting, document in zip(batch, documents, strict=True) if document is not None}

    async def aclose(self) -> None:
        if self._batches is not None:
            await self._batches.aclose()


class Writes:
    """The worker's creates and updates (`coalescing` off: each made by its own statement)."""

    def __init__(
        self, pool: AsyncConnectionPool, questionnaires: QuestionnaireCache, region: str, *, coalescing: bool = True
    ) -> None:
        self.batch_pool: AsyncConnectionPool | None = None
        if coalescing:
            self.batch_pool = AsyncConnectionPool(
                pool.conninfo,
                kwargs=pool.kwargs,
                min_size=1,
                max_size=min(2 * MAX_IN_FLIGHT, pool.max_size),  # creates and updates, no more than the worker's
                timeout=pool.timeout,
                configure=customer_writes.set_up_batch_connection,
                open=False,
            )

        async def create(conn: AsyncConn, data: CustomerCreate) -> bytes:
            return await customer_writes.create_customer_json(conn, data, questionnaires, region)

        async def creates(conn: AsyncConn, batch: list[CustomerCreate]) -> list[bytes | None]:
            return await customer_writes.create_customers_json(conn, batch, questionnaires, region)

        async def update(conn: AsyncConn, item: tuple[int, CustomerUpdate]) -> bytes:
            return await customer_writes.update_customer_json(conn, item[0], item[1], questionnaires)

        async def updates(conn: AsyncConn, batch: list[tuple[int, CustomerUpdate]]) -> list[bytes | None]:
            return await customer_writes.update_customers_json(conn, batch, questionnaires)

        self._creates = _Batched(pool, self.batch_pool, create, creates)
        self._updates = _Batched(pool, self.batch_pool, update, updates)

    async def open(self) -> None:
        """Start opening the batches' pool (its connections are made in the background)."""
        if self.batch_pool is not None:
            await self.batch_pool.open(wait=False)

    async def create(self, data: CustomerCreate) -> bytes:
        """The created customer's JSON document; the error of a create refused."""
        return await self._creates.write(data)

    async def update(self, customer_id: int, data: CustomerUpdate) -> bytes:
        """The updated customer's JSON document; the error of an update refused."""
        return await self._updates.write((customer_id, data))

    async def aclose(self) -> None:
        """Wait for the writes already sent, then close the batches' pool (at shutdown)."""
        await self._creates.aclose()
        await self._updates.aclose()
        if self.batch_pool is not None:
            await self.batch_pool.close()
