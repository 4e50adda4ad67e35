"""Search fixtures: a flushed Redis per test, the live service with search on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis

from customers import store
from customers.config import Settings
from customers.models import CustomerCreate
from customers.questionnaire import Questionnaire
from tests.conftest import LiveServer, client_for, start_server
from tests.helpers import ADMIN_TOKEN


@pytest.fixture
def rclient(search_settings: Settings) -> Iterator[redis.Redis]:
    """A client of the test Redis, emptied before the test."""
    client = redis.Redis(host=search_settings.services_redis_host, port=search_settings.services_redis_port,
                         protocol=2, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def env(search_settings: Settings, clean_db: None, rclient: redis.Redis) -> Settings:
    """Search settings on an empty database and an empty Redis."""
    return search_settings


@pytest.fixture(scope="session")
def search_live(search_settings: Settings) -> Iterator[LiveServer]:
    from service.app import create_app

    server = start_server(create_app(search_settings))
    yield server
    server.stop()


@pytest.fixture
def search_api(search_live: LiveServer, env: Settings) -> Iterator[httpx.Client]:
    """An admin client of the live service with search on; database and Redis empty."""
    with client_for(search_live.url, ADMIN_TOKEN) as client:
        yield client


def add_customers(conninfo: str, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create customers through the store (as the service does); returns their records."""

    async def run() -> list[dict[str, Any]]:
        q = Questionnaire.default()
        rows = []
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            for data in customers:
                rows.append(await store.create_customer(conn, CustomerCreate(**data), q, "RU"))
        return rows

    return asyncio.run(run())
