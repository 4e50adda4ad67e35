"""An import killed with SIGKILL in the middle of its COPY leaves nothing half-loaded, and
running it again loads the file exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from customers.config import Settings
from etl.staging import RUN_LOCK_CLASS
from tests.helpers import cli_env, generate_sample

ROWS = 60_000


def _customers(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM customers").fetchone()
    assert row is not None
    return int(row[0])


def test_sigkill_mid_copy_then_rerun_loads_once(
    settings: Settings, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    env = cli_env(settings)
    path = tmp_path / "legacy.csv"
    generate_sample(env, ROWS, path, 11)
    command = [sys.executable, "-m", "cli", "import", str(path), "--batch-size", "5000", "--json"]

    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:  # wait until rows are streaming into PostgreSQL, then kill the importer
            copied = conn.execute("SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy").fetchone()
            if copied and copied[0] > 0:
                break
            assert victim.poll() is None, "the import ended before it could be killed: make the file bigger"
            assert time.monotonic() < deadline, "the import never started copying"
            time.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.wait(30)
    assert victim.returncode == -signal.SIGKILL

    # the killed transaction is rolled back by the server: nothing of the file is visible
    deadline = time.monotonic() + 30
    while conn.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE query ILIKE 'COPY%%customers%%' OR query ILIKE 'COPY%%import_staging%%'"
    ).fetchone()[0]:  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _customers(conn) == 0

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    counts = report["counts"]
    assert report["status"] == "succeeded"
    assert counts["read"] == ROWS and counts["inserted"] == _customers(conn) > 0
    assert (
        counts["read"]
        == counts["inserted"] + counts["updated"] + counts["unchanged"] + counts["rejected"] + counts["duplicates"]
    )

    again = json.loads(subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=True).stdout)
    assert (
        again["counts"]["inserted"] == 0
        and again["counts"]["unchanged"] + again["counts"]["duplicates"] + again["counts"]["rejected"] == ROWS
    )
    assert _customers(conn) == counts["inserted"]


def test_sigkill_while_sessions_copy_chunks_leaves_nothing_and_the_rerun_drops_the_leftovers(
    settings: Settings, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    env = cli_env(settings)
    path = tmp_path / "chunks.csv"
    generate_sample(env, ROWS, path, 12)
    command = [sys.executable, "-m", "cli", "import", str(path), "--batch-size", "2000", "--json"]
    # a chunk table is created in the transaction that copies it: other sessions see its COPY
    # in progress, but not its name
    copying_chunks = "SELECT count(*) FROM pg_stat_progress_copy WHERE tuples_processed > 0"
    chunk_tables = "SELECT count(*) FROM pg_tables WHERE tablename ~ '^import_staging_[0-9]+_[0-9]+$'"

    victim = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # kill once some chunks are committed and a session is copying the next one
        while not (conn.execute(copying_chunks).fetchone()[0] and conn.execute(chunk_tables).fetchone()[0] >= 2):  # type: ignore[index]
            assert victim.poll() is None, "the import ended before it could be killed: make the file bigger"
            assert time.monotonic() < deadline, "the import never copied chunks"
            time.sleep(0.01)
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.wait(30)
    assert victim.returncode == -signal.SIGKILL
    killed_run = conn.execute("SELECT max(id) FROM import_runs").fetchone()[0]  # type: ignore[index]

    # the server ends the killed sessions: the merge transaction is rolled back, the run's lock freed
    deadline = time.monotonic() + 30
    while (
        conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
            (RUN_LOCK_CLASS, killed_run),
        ).fetchone()[0]
        or conn.execute(copying_chunks).fetchone()[0]
    ):  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _customers(conn) == 0
    assert conn.execute(chunk_tables).fetchone()[0] > 0  # type: ignore[index]  # committed chunks outlive the kill

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    counts = report["counts"]
    assert report["status"] == "succeeded" and counts["read"] == ROWS
    assert counts["inserted"] == _customers(conn) > 0 and counts["unchanged"] == 0
    # the rerun dropped the dead run's chunks and its own
    assert conn.execute(chunk_tables).fetchone()[0] == 0  # type: ignore[index]
