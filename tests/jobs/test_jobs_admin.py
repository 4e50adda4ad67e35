"""`customers jobs ...` and the HTTP admin of jobs."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import psycopg

from jobs.runner import JOB_LOCK_SPACE
from tests.helpers import wait_for
from tests.jobs.support import customers_command


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(customers_command(*args), env=env, capture_output=True, text=True, timeout=60)


def hold_job_lock(conn: psycopg.Connection[Any], job: str) -> None:
    """Make `job` look busy: another session holds its advisory lock."""
    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (JOB_LOCK_SPACE, job))


def test_jobs_run_list_history_from_the_command_line(db_env: dict[str, str], conn: psycopg.Connection[Any]) -> None:
    done = cli(db_env, "jobs", "run", "brin-summarize", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded" and run["origin"] == "cli" and run["result"]["index"] == "idx_customers_id"
    assert "brin-summarize: summarising new page ranges" in done.stderr  # progress, in the foreground

    listed = json.loads(cli(db_env, "jobs", "list", "--json").stdout)
    assert [i["name"] for i in listed["items"]][:3] == ["brin-summarize", "stats-refresh", "import-cleanup"]
    brin = listed["items"][0]
    assert brin["schedule"] == "every 10m" and brin["scheduled"] and brin["next_run"]
    assert brin["last_run"]["id"] == run["id"]
    assert listed["leader"] is None

    history = json.loads(cli(db_env, "jobs", "history", "brin-summarize", "--json").stdout)
    assert [r["id"] for r in history["items"]] == [run["id"]]
    human = cli(db_env, "jobs", "history")
    assert human.returncode == 0 and "brin-summarize" in human.stdout and "succeeded" in human.stdout


def test_jobs_command_errors(db_env: dict[str, str], conn: psycopg.Connection[Any]) -> None:
    unknown = cli(db_env, "jobs", "run", "nope")
    assert unknown.returncode == 1 and "no job named 'nope'" in unknown.stderr
    assert cli(db_env, "jobs", "history", "nope").returncode == 1

    hold_job_lock(conn, "stats-refresh")
    busy = cli(db_env, "jobs", "run", "stats-refresh")
    assert busy.returncode == 1 and "stats-refresh is already running" in busy.stderr

    bad_name = cli(db_env | {"JOBS_SCHEDULE": '{"nope": "every 1s"}'}, "jobs", "list")
    assert bad_name.returncode == 1 and "jobs_schedule: unknown job 'nope'" in bad_name.stderr


def test_jobs_over_http(api: httpx.Client, reader_api: httpx.Client, conninfo: str) -> None:
    assert reader_api.get("/jobs").status_code == 403
    finished = api.post("/jobs/brin-summarize/run", params={"wait": "true"})
    assert finished.status_code == 200 and finished.json()["status"] == "succeeded"
    assert finished.json()["origin"] == "http"

    started = api.post("/jobs/stats-refresh/run")
    assert started.status_code == 202 and started.json()["status"] == "running"
    run_id = started.json()["id"]
    done = wait_for(lambda: (r := api.get(f"/jobs/runs/{run_id}").json())["status"] != "running" and r, 10)
    assert done["status"] == "succeeded" and done["result"]["customers"] == 0

    listed = api.get("/jobs").json()
    assert listed["count"] == len(listed["items"]) >= 3
    stats_item = next(i for i in listed["items"] if i["name"] == "stats-refresh")
    assert stats_item["last_run"]["id"] == run_id and stats_item["running"] is None

    history = api.get("/jobs/history").json()
    assert [r["job"] for r in history["items"]] == ["stats-refresh", "brin-summarize"]
    assert [r["id"] for r in api.get("/jobs/brin-summarize/history").json()["items"]] == [finished.json()["id"]]
    assert api.get("/jobs/history", params={"job": "stats-refresh"}).json()["count"] == 1

    missing = api.post("/jobs/nope/run")
    assert missing.status_code == 404 and missing.json()["code"] == "JOB_NOT_FOUND"
    assert api.get("/jobs/runs/999999").json()["code"] == "JOB_RUN_NOT_FOUND"
    assert api.get("/jobs/nope/history").status_code == 404

    with psycopg.connect(conninfo, autocommit=True) as other:
        hold_job_lock(other, "brin-summarize")
        busy = api.post("/jobs/brin-summarize/run")
        assert busy.status_code == 409 and busy.json()["code"] == "JOB_RUNNING"


def test_a_run_whose_process_died_shows_as_interrupted(api: httpx.Client, conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # a row as left by a `jobs run` process killed outright: nobody holds the job's lock
        conn.execute(
            "INSERT INTO job_runs (job, origin, host, pid, backend_pid) VALUES ('import-cleanup', 'cli', 'gone', 1, 1)"
        )
    item = next(i for i in api.get("/jobs").json()["items"] if i["name"] == "import-cleanup")
    assert item["running"] is None
    assert item["last_run"]["status"] == "interrupted" and "process running it ended" in item["last_run"]["error"]
