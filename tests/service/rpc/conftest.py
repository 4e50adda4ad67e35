"""Fixtures of the JSON-RPC tests: admin, reader and search-enabled clients of the live service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import ADMIN_TOKEN, READER_TOKEN
from tests.service.rpc.rpc_client import Rpc


@pytest.fixture
def rpc(api: httpx.Client) -> Rpc:
    """An admin RPC client on an empty database."""
    return Rpc(api)


@pytest.fixture
def reader_rpc(live: Any, clean_db: None) -> Iterator[Rpc]:
    """A reader-role RPC client on an empty database."""
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {READER_TOKEN}"}, timeout=30) as client:
        yield Rpc(client)


@pytest.fixture(scope="module")
def rpc_search_live(search_settings: Any) -> Iterator[Any]:
    """The live service with search on (Redis with the search module from the root fixtures).

    Module-scoped: its write-path listener is process-global (`store.on_change`) and must not
    outlive the tests that need it, or writes served by the other live servers would call it."""
    from cli.app import create_app
    from tests.conftest import start_server

    server = start_server(create_app(search_settings))
    yield server
    server.stop()


@pytest.fixture
def search_rpc(rpc_search_live: Any, search_settings: Any, clean_db: None) -> Iterator[Rpc]:
    """An admin RPC client of the service with search on; database and Redis empty."""
    import redis

    flushed = redis.Redis(
        host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=2
    )
    flushed.flushdb()
    flushed.close()
    with httpx.Client(
        base_url=rpc_search_live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    ) as client:
        yield Rpc(client)
