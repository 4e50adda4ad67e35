"""Helpers of the jobs tests: scheduler settings with short intervals, subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from jobs.triggers import JobsSettings

ROOT = Path(__file__).resolve().parents[2]


def jobs_settings(grace: int = 30, **schedule: str) -> JobsSettings:
    """Scheduler settings for tests: the given triggers, quick election and shutdown."""
    table = {k.replace("_", "-"): v for k, v in schedule.items()}
    return JobsSettings(
        jobs_schedule=table,
        jobs_leader_retry_seconds=0.5,
        jobs_misfire_grace_seconds=grace,
        jobs_shutdown_grace_seconds=5,
    )


class Processes:
    """Subprocesses started by a test, all stopped at its end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(args, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def customers_command(*args: str) -> list[str]:
    """The `customers` entry point as installed in this environment."""
    exe = Path(sys.executable).with_name("customers")
    return [str(exe), *args]
