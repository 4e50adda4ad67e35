"""Search fixtures: a flushed Redis per test, the live service with search on."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from customers.config import Settings
from tests.conftest import LiveServer, client_for, free_port, search_server, start_server
from tests.helpers import ADMIN_TOKEN


@pytest.fixture
def rclient(search_settings: Settings) -> Iterator[redis.Redis]:
    """A client of the test Redis, emptied before the test."""
    client = redis.Redis(
        host=search_settings.services_redis_host,
        port=search_settings.services_redis_port,
        protocol=2,
        decode_responses=True,
    )
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def env(search_settings: Settings, clean_db: None, rclient: redis.Redis) -> Settings:
    """Search settings on an empty database and an empty Redis."""
    return search_settings


@pytest.fixture(scope="session")
def search_live(search_settings: Settings) -> Iterator[LiveServer]:
    from cli.app import create_app

    server = start_server(create_app(search_settings))
    yield server
    server.stop()


@pytest.fixture
def search_api(search_live: LiveServer, env: Settings) -> Iterator[httpx.Client]:
    """An admin client of the live service with search on; database and Redis empty."""
    with client_for(search_live.url, ADMIN_TOKEN) as client:
        yield client


class OwnRedis:
    """A redis-server with the search module that a test may stop and start again."""

    def __init__(self, workdir: Path, *module_args: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.module_args = list(module_args)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary, module = search_server()
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--loadmodule",
                module,
                *self.module_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        client = redis.Redis(port=self.port, protocol=2)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and self.process.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A private Redis with Debian's module, which the test may stop and start."""
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()
