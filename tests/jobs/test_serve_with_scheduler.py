"""`customers serve --with-scheduler`: the service's worker processes host the scheduler and
elect one leader between them."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.conftest import free_port
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
