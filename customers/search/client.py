"""Redis clients for search, the dialect probe, and redis errors translated once.

Clients speak RESP2 (`protocol=2`): redis-py's RESP3 parsers crash on RediSearch 1.2 replies.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from customers.config import Settings
from customers.errors import CustomersError
from customers.search.dialect_v1 import DialectV1
from customers.search.dialect_v2 import DialectV2

Dialect = DialectV1 | DialectV2
SyncClient = redis.Redis | RedisCluster
AsyncClient = aredis.Redis | AsyncRedisCluster

SOCKET_TIMEOUT = 5.0
RETRIES = 1


class SearchUnavailable(CustomersError):
    """Redis (or its search module) cannot be reached; transient."""

    code = "SEARCH_UNAVAILABLE"
    status = 503


class SearchDisabled(CustomersError):
    """Search is switched off (`search_enabled=false`): the index is not used."""

    code = "SEARCH_DISABLED"
    status = 409


def require_enabled(settings: Settings) -> None:
    """Refuse index work when search is switched off (the one place that says so)."""
    if not settings.search_enabled:
        raise SearchDisabled("search is disabled (search_enabled=false): set search_enabled=true and services_redis_*")


REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


def _options(settings: Settings) -> dict[str, Any]:
    password = settings.services_redis_password.get_secret_value() if settings.services_redis_password else None
    return {
        "host": settings.services_redis_host,
        "port": settings.services_redis_port,
        "password": password,
        "protocol": 2,
        "decode_responses": True,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": 2.0,
    }


# redis-py retries 10 times with backoff by default, on timeouts too: an unreachable server must
# be noticed at once (the write path and find fall back, they do not wait), and a command that
# timed out may have done its work in the server — resent, a drop of a big index that ran past
# the timeout failed with "Unknown Index name". One retry, for a broken connection only.
RETRY_ON = (redis.ConnectionError,)


def connect(settings: Settings, *, timeout: float | None = SOCKET_TIMEOUT) -> SyncClient:
    """A synchronous client (admin commands, rebuilds, jobs); `timeout` in seconds per reply."""
    require_enabled(settings)
    options = {**_options(settings), "socket_timeout": timeout, "retry": Retry(NoBackoff(), RETRIES, RETRY_ON)}
    if settings.services_redis_cluster:
        return RedisCluster(**options)
    return redis.Redis(db=settings.services_redis_db, **options)


def connect_async(settings: Settings) -> AsyncClient:
    """An asyncio client (the service's find and write path)."""
    require_enabled(settings)
    options = {**_options(settings), "retry": AsyncRetry(NoBackoff(), RETRIES, RETRY_ON)}
    if settings.services_redis_cluster:
        return AsyncRedisCluster(**options)
    return aredis.Redis(db=settings.services_redis_db, **options)


def command(client: SyncClient, *args: Any) -> Any:
    """Send one command given by its name and arguments (MODULE, FT.*) and return the reply."""
    # redis-py declares `execute_command` without types; this is the one untyped call
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def dialect_for(modules: Any) -> Dialect:
    """Pick the dialect from a `MODULE LIST` reply."""
    for module in modules or []:
        entry = pairs(module)
        if str(entry.get("name", "")).lower() in ("ft", "search"):
            dialect: Dialect = DialectV2() if int(entry.get("ver", 0)) >= 20000 else DialectV1()
            dialect.version = int(entry.get("ver", 0))
            dialect.module_args = tuple(str(a.decode() if isinstance(a, bytes) else a) for a in entry.get("args") or ())
            return dialect
    raise SearchUnavailable("the Redis server has no search module (RediSearch) loaded")


def probe(client: SyncClient) -> Dialect:
    """Ask the server which RediSearch generation it runs."""
    try:
        return dialect_for(command(client, "MODULE", "LIST"))
    except REDIS_ERRORS as exc:
        raise SearchUnavailable(f"Redis is unavailable: {exc}") from exc


async def probe_async(client: AsyncClient) -> Dialect:
    try:
        return dialect_for(await client.execute_command("MODULE", "LIST"))
    except REDIS_ERRORS as exc:
        raise SearchUnavailable(f"Redis is unavailable: {exc}") from exc


def pairs(reply: Any) -> dict[str, Any]:
    """A flat `[k, v, k, v]` reply (RESP2) as a dict; a dict is returned as is."""

    def text(value: Any) -> Any:
        return value.decode() if isinstance(value, bytes) else value

    if isinstance(reply, dict):
        return {str(text(k)): text(v) for k, v in reply.items()}
    items = list(reply)
    return {str(text(items[i])): text(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def text(value: Any) -> str | None:
    """A reply value as text (clients decode responses; typed as bytes | str by redis-py)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
