"""Real scheduler processes against one database: one leader, handover when it dies, SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.helpers import wait_for
from tests.jobs.support import Processes, customers_command


def runs(conninfo: str, job: str) -> list[dict[str, Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute("SELECT * FROM job_runs WHERE job = %s ORDER BY id", (job,)).fetchall()


def scheduler_env(db_env: dict[str, str], **extra: str) -> dict[str, str]:
    return db_env | {"JOBS_LEADER_RETRY_SECONDS": "1", "JOBS_MISFIRE_GRACE_SECONDS": "30"} | extra


def test_two_scheduler_processes_one_leader_and_handover(
    processes: Processes, db_env: dict[str, str], conninfo: str, clean_db: None, tmp_path: Path
) -> None:
    schedule = {"brin-summarize": "every 1s", "stats-refresh": "every 2s", "import-cleanup": "off"}
    env = scheduler_env(db_env, JOBS_SCHEDULE=json.dumps(schedule))
    first = processes.start(customers_command("scheduler", "--no-migrate"), env, tmp_path / "a.log")
    second = processes.start(customers_command("scheduler", "--no-migrate"), env, tmp_path / "b.log")
    wait_for(lambda: len(runs(conninfo, "brin-summarize")) >= 4, 20)
    wait_for(lambda: len(runs(conninfo, "stats-refresh")) >= 2, 10)

    by_pid = {r["pid"] for r in runs(conninfo, "brin-summarize") + runs(conninfo, "stats-refresh")}
    assert len(by_pid) == 1, "every trigger ran on the leader only"
    leader_pid = by_pid.pop()
    assert leader_pid in (first.pid, second.pid)
    leader, follower = (first, second) if leader_pid == first.pid else (second, first)
    for job in ("brin-summarize", "stats-refresh"):
        slots = [r["scheduled_for"] for r in runs(conninfo, job)]
        assert len(slots) == len(set(slots))
    assert all(r["status"] == "succeeded" for r in runs(conninfo, "brin-summarize") if r["status"] != "running")

    leader.kill()  # no goodbye: the lock goes with its connection
    leader.wait(10)
    # the follower takes over within five seconds, and goes on firing
    wait_for(lambda: any(r["pid"] == follower.pid for r in runs(conninfo, "brin-summarize")), 5)
    wait_for(lambda: len([r for r in runs(conninfo, "brin-summarize") if r["pid"] == follower.pid]) >= 2, 10)
    slots = [r["scheduled_for"] for r in runs(conninfo, "brin-summarize")]
    assert len(slots) == len(set(slots)), "no fire time ran twice across the handover"

    follower.send_signal(signal.SIGTERM)
    assert follower.wait(15) == 0
    assert not [
        r for r in runs(conninfo, "brin-summarize") + runs(conninfo, "stats-refresh") if r["status"] == "running"
    ]


def sleepy(processes: Processes, env: dict[str, str], log: Path) -> Any:
    return processes.start([sys.executable, "-m", "tests.jobs.sleepy_scheduler"], env, log)


def test_a_run_of_a_killed_leader_is_marked_interrupted_by_the_next(
    processes: Processes, db_env: dict[str, str], conninfo: str, clean_db: None, tmp_path: Path
) -> None:
    env = scheduler_env(db_env)
    first = sleepy(processes, env, tmp_path / "a.log")
    wait_for(lambda: [r for r in runs(conninfo, "nap") if r["status"] == "running"], 20)
    second = sleepy(processes, env, tmp_path / "b.log")
    orphan = runs(conninfo, "nap")[0]
    assert orphan["pid"] == first.pid
    first.kill()
    first.wait(10)
    wait_for(lambda: runs(conninfo, "nap")[0]["status"] == "interrupted", 15)
    row = runs(conninfo, "nap")[0]
    assert "process running it ended" in row["error"] and row["finished_at"] is not None
    wait_for(lambda: any(r["pid"] == second.pid for r in runs(conninfo, "nap")), 10)


def test_sigterm_marks_a_run_outlasting_the_grace_interrupted(
    processes: Processes, db_env: dict[str, str], conninfo: str, clean_db: None, tmp_path: Path
) -> None:
    # (a run finishing within the grace: test_scheduling.py, in process)
    status = "interrupted"
    proc = sleepy(processes, scheduler_env(db_env, JOBS_SHUTDOWN_GRACE_SECONDS="0.3"), tmp_path / "s.log")
    wait_for(lambda: [r for r in runs(conninfo, "nap") if r["status"] == "running"], 20)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    rows = runs(conninfo, "nap")
    assert [r["status"] for r in rows] == [status], (tmp_path / "s.log").read_text()
    assert rows[0]["finished_at"] is not None and "shutting down" in rows[0]["error"]
