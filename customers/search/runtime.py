"""The service's search runtime: one asyncio Redis client, the probed dialect, the schemas of
the index versions (immutable, so cached by name), and the counters shown in /health."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from customers.config import Settings
from customers.search.client import REDIS_ERRORS, AsyncClient, Dialect, connect_async, probe_async, text
from customers.search.schema import IndexSchema
from customers.search.state import IndexState

log = logging.getLogger(__name__)

DEFAULT_QUERY_TIMEOUT = 0.5  # seconds: RediSearch's TIMEOUT when nobody set one (1.2 and 2.x)
TIMEOUT_TTL = 30.0  # seconds a timeout read with FT.CONFIG is trusted (it can be changed live)


def module_timeout(args: tuple[str, ...]) -> float | None:
    """The query timeout given as module load arguments (`TIMEOUT <ms>`; 0: none), if any."""
    upper = [a.upper() for a in args]
    if "TIMEOUT" in upper:
        position = upper.index("TIMEOUT") + 1
        if position < len(args) and args[position].isdigit():
            ms = int(args[position])
            return ms / 1000 if ms > 0 else None
    return DEFAULT_QUERY_TIMEOUT


@dataclass
class Counters:
    """Since the process started."""

    write_failures: int = 0  # document writes lost because Redis was unreachable
    find_fallbacks: int = 0  # finds served by PostgreSQL although search is on
    last_error: str | None = None


@dataclass
class SearchRuntime:
    """Search resources of one service process (opened in the app lifespan)."""

    settings: Settings
    client: AsyncClient
    counters: Counters = field(default_factory=Counters)
    _dialect: Dialect | None = None
    _schemas: dict[str, IndexSchema] = field(default_factory=dict)
    _timeout: tuple[float, float | None] | None = None  # (read at, seconds or None)

    @classmethod
    def open(cls, settings: Settings) -> SearchRuntime:
        return cls(settings, connect_async(settings))

    async def close(self) -> None:
        await self.client.aclose()

    async def dialect(self) -> Dialect:
        if self._dialect is None:
            self._dialect = await probe_async(self.client)
        return self._dialect

    async def query_timeout(self) -> float | None:
        """The server's query timeout in seconds (None: queries never time out). 2.x tells it
        (`FT.CONFIG GET TIMEOUT`, re-read now and then); 1.2 has no FT.CONFIG, only the
        module's load arguments."""
        now = time.monotonic()
        if self._timeout is not None and now - self._timeout[0] < TIMEOUT_TTL:
            return self._timeout[1]
        dialect = await self.dialect()
        timeout = module_timeout(dialect.module_args)
        if dialect.has_aliases:
            try:
                reply = await self.client.execute_command("FT.CONFIG", "GET", "TIMEOUT")
                value = text(reply[0][1]) if reply and reply[0] else None
                if value is not None and value.isdigit():
                    timeout = int(value) / 1000 if int(value) > 0 else None
            except redis.ResponseError:
                pass  # a server without FT.CONFIG: the load arguments stand
        self._timeout = (now, timeout)
        return timeout

    async def targets(self) -> tuple[str | None, str | None]:
        """(current index, index being built)."""
        current, building = await self.client.mget([IndexState.CURRENT, IndexState.BUILDING])
        return text(current), text(building)

    async def schema_of(self, index: str) -> IndexSchema | None:
        schema = self._schemas.get(index)
        if schema is None:
            stored = text(await self.client.get(IndexState.SCHEMA + index))
            if stored is None:
                return None
            schema = self._schemas[index] = IndexSchema.from_json(stored)
        return schema

    def failed(self, what: str, exc: BaseException) -> None:
        self.counters.last_error = f"{what}: {type(exc).__name__}: {exc}"

    async def health(self) -> dict[str, Any]:
        """Redis reachability and the counters (a `/health` probe)."""
        body: dict[str, Any] = {
            "write_failures": self.counters.write_failures,
            "find_fallbacks": self.counters.find_fallbacks,
            "last_error": self.counters.last_error,
        }
        try:
            await self.client.ping()
            dialect = await self.dialect()
            current, building = await self.targets()
            return {
                "ok": True,
                "dialect": dialect.name,
                "module_version": dialect.version,
                "module_args": list(dialect.module_args),
                "index": current,
                "building": building,
                **body,
            }
        except REDIS_ERRORS as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}", **body}
        except Exception as exc:  # noqa: BLE001 - e.g. no search module: unhealthy, reported
            return {"ok": False, "error": str(exc), **body}
