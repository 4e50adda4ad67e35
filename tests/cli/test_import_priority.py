"""`customers import --nice N` runs every thread of the importer N steps below the priority it
was started with (Linux keeps one per thread), and the import itself is unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from customers.config import Settings
from tests.helpers import cli_env, generate_sample

ROWS = 30_000


def _nice_values(pid: int) -> dict[int, int]:
    """The nice value of each thread of a running process, from /proc (field 19 of stat)."""
    values: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        values[int(task.name)] = int(stat.rsplit(")", 1)[1].split()[16])
    return values


@pytest.mark.parametrize("nice", [7, 0])
def test_every_thread_of_the_importer_runs_lower_by_nice(
    settings: Settings, conn: psycopg.Connection[Any], tmp_path: Path, nice: int
) -> None:
    env = cli_env(settings)
    path = tmp_path / "legacy.csv"
    generate_sample(env, ROWS, path, 5)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    command = [sys.executable, "-m", "cli", "import", str(path), "--batch-size", "1000", "--json", "--nice", str(nice)]
    importer = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60
        # while rows stream into PostgreSQL: the copying sessions and polars' pool are running
        while not conn.execute("SELECT count(*) FROM pg_stat_progress_copy").fetchone()[0]:  # type: ignore[index]
            assert importer.poll() is None, "the import ended before its threads could be read: make the file bigger"
            assert time.monotonic() < deadline, "the import never started copying"
            time.sleep(0.01)
        seen = _nice_values(importer.pid)
        out, err = importer.communicate(timeout=120)
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait(30)
    assert importer.returncode == 0, err
    assert len(seen) > 3  # the main thread, the validating one, the copying sessions, polars' pool
    assert set(seen.values()) == {min(19, base + nice)}
    report = json.loads(out)
    assert report["status"] == "succeeded" and report["counts"]["read"] == ROWS
