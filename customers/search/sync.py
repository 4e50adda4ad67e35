"""The write path: after each committed customer write, its document is written to (or removed
from) the index — the current one and, while a rebuild runs, the one being built. A failure to
reach Redis is logged and counted, never fails the write; the rebuild repairs the drift."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from customers.metrics import SEARCH_INDEX_WRITE_FAILURES
from customers.search.client import REDIS_ERRORS
from customers.search.documents import commands_for, delete_commands
from customers.search.runtime import SearchRuntime

log = logging.getLogger(__name__)


class IndexWriter:
    """A `customers.store.on_change` listener copying writes into the index."""

    def __init__(self, runtime: SearchRuntime, pool: AsyncConnectionPool) -> None:
        self.runtime = runtime
        self.pool = pool
        # the client and the pool belong to the service's event loop
        self.loop = asyncio.get_running_loop()

    async def __call__(self, upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        if asyncio.get_running_loop() is not self.loop:
            # a write made on another loop of this process (a CLI or test helper): run the
            # copy on the loop that owns the client
            future = asyncio.run_coroutine_threadsafe(self._copy(upserted, deleted), self.loop)
            await asyncio.wrap_future(future)
            return
        await self._copy(upserted, deleted)

    async def _copy(self, upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        try:
            await self.write([row["id"] for row in upserted], deleted)
        except REDIS_ERRORS as exc:
            self.runtime.counters.write_failures += 1
            self.runtime.failed("index write", exc)
            SEARCH_INDEX_WRITE_FAILURES.labels("unreachable").inc()
            log.warning(
                "search index not updated for customers %s (Redis unreachable: %s); "
                "`customers search migrate` repairs it",
                [r["id"] for r in upserted] + deleted,
                exc,
            )

    async def write(self, ids: list[int], deleted: list[int]) -> None:
        """Write the documents of `ids` (read back from PostgreSQL) and remove `deleted`."""
        runtime = self.runtime
        dialect = await runtime.dialect()
        indexes = [name for name in dict.fromkeys(await runtime.targets()) if name]
        commands: list[tuple[Any, ...]] = []
        for index in indexes:
            schema = await runtime.schema_of(index)
            if schema is None:
                continue
            if ids:
                async with self.pool.connection() as conn:
                    cur = await conn.execute(schema.documents_sql("id = ANY(%(ids)s)"), {"ids": ids})
                    rows = await cur.fetchall()
                commands += commands_for(dialect, index, schema, rows, fresh=False)
                missing = sorted(set(ids) - {r[0] for r in rows})  # deleted meanwhile
                commands += delete_commands(dialect, index, missing)
            commands += delete_commands(dialect, index, deleted)
        if not commands:
            return
        pipe = runtime.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, REDIS_ERRORS):
                log.error("the search server refused a document write: %s", result)
                runtime.counters.write_failures += 1
                SEARCH_INDEX_WRITE_FAILURES.labels("refused").inc()
                break
