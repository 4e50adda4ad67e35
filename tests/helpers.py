"""Values and helpers shared by the suite's fixtures and tests."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from customers.config import Settings

ADMIN_TOKEN = "admin-" + secrets.token_hex(16)
READER_TOKEN = "reader-" + secrets.token_hex(16)

# The create defaults of the original service: one set for REST, JSON-RPC and bulk files, written
# out here as the contract (customers.models.create_defaults must equal it).
CREATE_DEFAULTS = {
    "email_confirmed": False,
    "loyalty_enabled": False,
    "accept_tender_offer": True,
    "prioritize_sms_verification": False,
    "blocked": False,
    "profile": {},
    "meta": {},
    "subscriptions": {},
}


def wait_for(condition: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    """Poll `condition` until it returns something truthy, and return that; fail after `timeout`
    seconds. Tests wait for what they need this way, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points a `python -m cli` subprocess at the suite's database."""
    env = {**os.environ, "CUSTOMERS_DATA_DIR": str(settings.customers_data_dir)}
    if not settings.embedded:
        env.update(SERVICES_DB_HOST=str(settings.services_db_host), SERVICES_DB_DATABASE=settings.services_db_database)
    return env


def generate_sample(env: dict[str, str], rows: int, path: Path, seed: int) -> None:
    """A sample customers file written by `customers samples generate`."""
    subprocess.run(
        [sys.executable, "-m", "cli", "samples", "generate", str(rows), str(path), "--seed", str(seed)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
