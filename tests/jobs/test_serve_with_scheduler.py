"""`customers serve --with-scheduler`: the service's worker processes host the scheduler and
elect one leader between them; the plain `customers serve` hosts none."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from cli.app import create_app
from customers.config import Settings
from jobs.schedule import TIMETABLE
from tests.conftest import free_port, start_server
from tests.helpers import wait_for
from tests.jobs.support import Processes, customers_command


def brin_runs(conninfo: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, status, scheduled_for FROM job_runs WHERE job = 'brin-summarize' ORDER BY id"
        ).fetchall()


def test_service_workers_host_one_scheduler_leader(
    processes: Processes, db_env: dict[str, str], conninfo: str, clean_db: None, tmp_path: Path
) -> None:
    port = free_port()
    env = db_env | {
        "JOBS_SCHEDULE": json.dumps({"brin-summarize": "every 1s", "stats-refresh": "off", "import-cleanup": "off"}),
        "JOBS_LEADER_RETRY_SECONDS": "1",
    }
    args = customers_command("serve", "--with-scheduler", "--no-migrate", "--port", str(port), "--workers", "2")
    server = processes.start(args, env, tmp_path / "serve.log")
    wait_for(lambda: len(brin_runs(conninfo)) >= 3, 30)

    pids = {row[0] for row in brin_runs(conninfo)}
    assert len(pids) == 1 and server.pid not in pids, "one worker process leads"
    slots = [row[2] for row in brin_runs(conninfo)]
    assert len(slots) == len(set(slots))
    listed = httpx.get(f"http://127.0.0.1:{port}/jobs", timeout=10).json()
    assert listed["leader"]["application_name"].endswith(f":{pids.pop()}")

    server.send_signal(signal.SIGTERM)
    assert server.wait(30) == 0, (tmp_path / "serve.log").read_text()
    assert all(row[1] != "running" for row in brin_runs(conninfo))


def electors() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "customers-scheduler-elector" and t.is_alive()]


@pytest.mark.parametrize("with_scheduler", [False, True])
def test_only_the_scheduler_composition_hosts_a_scheduler(
    settings: Settings, clean_db: None, monkeypatch: pytest.MonkeyPatch, with_scheduler: bool
) -> None:
    monkeypatch.setenv("JOBS_SCHEDULE", json.dumps({job.name: "off" for job in TIMETABLE}))
    assert electors() == []
    server = start_server(create_app(settings, with_scheduler=with_scheduler))
    try:
        assert len(electors()) == (1 if with_scheduler else 0)
    finally:
        server.stop()
    assert electors() == [], "the hosted scheduler stops with the application"
