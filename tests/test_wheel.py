"""The package as a user installs it: the wheel built from this tree, installed (not editable)
into a fresh virtualenv, migrates an empty database and serves REST and JSON-RPC from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from customers import db
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _run(
    args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel of this tree and a fresh virtualenv with it installed, built once a session."""
    work = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(work / "dist"), str(ROOT)])
    (wheel,) = (work / "dist").glob("customers-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    # the dependencies from the configured indexes; --no-compile: byte-compiling every
    # dependency up front is most of the install's time, and imports compile what they use
    _run([str(venv / "bin" / "pip"), "install", "--no-compile", str(wheel)], cwd=work)
    return Installed(wheel, venv)


@pytest.fixture
def empty_database(conninfo: str) -> Iterator[str]:
    """A database of its own on the suite's server, with nothing in it."""
    name = f"customers_wheel_{os.getpid()}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    yield db.ensure_database(conninfo, name)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _environment(database: str, data_dir: Path) -> dict[str, str]:
    """This process's environment without the project's settings or sources, pointing at `database`."""
    own = ("services_", "customers_", "jobs_", "search_", "auth_", "pythonpath", "virtual_env", "prometheus_")
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(own)}
    parts = psycopg.conninfo.conninfo_to_dict(database)
    env.update(
        SERVICES_DB_HOST=str(parts.get("host", "127.0.0.1")),
        SERVICES_DB_PORT=str(parts.get("port", 5432)),
        SERVICES_DB_DATABASE=str(parts["dbname"]),
        SERVICES_DB_USER=str(parts.get("user", "postgres")),
        CUSTOMERS_DATA_DIR=str(data_dir),
    )
    if parts.get("password"):
        env["SERVICES_DB_PASSWORD"] = str(parts["password"])
    return env


def test_the_wheel_carries_the_migrations_and_the_command_line(installed: Installed) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    migrations = sorted(p.name for p in (ROOT / "sql").glob("*.sql"))
    assert migrations and sorted(n.removeprefix("customers/sql/") for n in names if n.startswith("customers/sql/")) == (
        migrations
    )
    assert {"cli/main.py", "cli/app.py", "customers/questionnaire_default.json"} <= set(names)
    # the admin page's templates and assets ship inside the package: nothing is fetched at run time
    admin = ROOT / "service" / "admin"
    shipped = {
        str(p.relative_to(ROOT))
        for folder in ("templates", "static")
        for p in (admin / folder).iterdir()
        if p.is_file()
    }
    assert shipped and shipped <= set(names), shipped - set(names)


def test_installed_package_migrates_and_serves(installed: Installed, empty_database: str, tmp_path: Path) -> None:
    env = _environment(empty_database, tmp_path / "data")
    where = _run(
        [installed.bin("python"), "-c", "from customers import db; print(db.migrations_dir())"], env=env, cwd=tmp_path
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), "the installed package is the one imported"

    migrated = _run([installed.bin("customers"), "db", "migrate"], env=env, cwd=tmp_path)
    assert "applied 001_customers" in migrated.stdout

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [installed.bin("customers"), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)

            created = client.post("/customers", json={"phone": "+7 (999) 123-45-67", "profile": {"city": "Казань"}})
            assert created.status_code == 201, created.text
            customer_id = created.json()["id"]
            read = client.get(f"/customers/{customer_id}")
            assert read.status_code == 200, read.text
            assert read.json()["phone"] == "79991234567" and read.json()["profile"] == {"city": "Казань"}

            answer = client.post(
                "/public/rpc", json={"id": 0, "method": "Customers.get", "params": {"id": customer_id}}
            )
            assert answer.status_code == 200, answer.text
            assert "error" not in answer.json(), answer.text
            assert answer.json()["result"]["id"] == customer_id
            assert answer.json()["result"]["phone"] == "79991234567"

            # the admin page, rendered from the installed package's templates (open mode: no login)
            page = client.get("/admin/search", params={"q": "Казань"})
            assert page.status_code == 200 and "Search customers" in page.text, page.text
            css = client.get("/admin/static/admin.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
