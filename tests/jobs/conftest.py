"""Fixtures of the jobs area: subprocess environments and processes stopped after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest

from tests.jobs.support import ROOT, Processes


@pytest.fixture(scope="session")
def db_env(conninfo: str) -> dict[str, str]:
    """Environment that points a `customers` subprocess at the suite's database."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(("services_", "jobs_", "customers_"))}
    env.update(
        SERVICES_DB_HOST=str(parts.get("host", "127.0.0.1")),
        SERVICES_DB_PORT=str(parts.get("port", 5432)),
        SERVICES_DB_DATABASE=str(parts.get("dbname")),
        SERVICES_DB_USER=str(parts.get("user", "postgres")),
        PYTHONPATH=str(ROOT),
    )
    if parts.get("password"):
        env["SERVICES_DB_PASSWORD"] = str(parts["password"])
    return env


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.stop_all()
