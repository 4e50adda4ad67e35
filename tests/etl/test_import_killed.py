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

ROWS = 60_000


def _env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, "CUSTOMERS_DATA_DIR": str(settings.customers_data_dir)}
    if not settings.embedded:
        env.update(SERVICES_DB_HOST=str(settings.services_db_host), SERVICES_DB_DATABASE=settings.services_db_database)
    return env


def _customers(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM customers").fetchone()
    assert row is not None
    return int(row[0])


def test_sigkill_mid_copy_then_rerun_loads_once(
    settings: Settings, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    env = _env(settings)
    path = tmp_path / "legacy.csv"
    subprocess.run(
        [sys.executable, "-m", "cli", "samples", "generate", str(ROWS), str(path), "--seed", "11"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
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
