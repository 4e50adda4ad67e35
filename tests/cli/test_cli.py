"""The `customers` command: status output, expected errors as one line, serve's safety check."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main
from customers import db, settings_store
from customers.config import Settings


def run(settings: Settings, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "CUSTOMERS_DATA_DIR": str(settings.customers_data_dir)}
    if not settings.embedded:
        base.update(SERVICES_DB_HOST=str(settings.services_db_host), SERVICES_DB_DATABASE=settings.services_db_database)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_the_commands(settings: Settings) -> None:
    result = run(settings, "--help")
    assert result.returncode == 0
    for command in ("db", "serve", "settings"):
        assert command in result.stdout


def test_db_status_json_names_database_and_migrations(settings: Settings) -> None:
    result = run(settings, "db", "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["kind"] == ("embedded" if settings.embedded else "external")
    assert status["pending"] == []
    assert status["migrations"][0]["name"] == "customers" and status["migrations"][0]["applied_at"]
    again = run(settings, "db", "migrate", "--json")
    assert json.loads(again.stdout)["applied"] == []


def test_settings_cli_round_trip(settings: Settings, clean_db: None, tmp_path: Path) -> None:
    shown = run(settings, "settings", "show")
    assert shown.returncode == 0
    document = json.loads(shown.stdout)
    document["fields"] = document["fields"][:3]
    path = tmp_path / "q.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert json.loads(run(settings, "settings", "set", str(path), "--json").stdout) == {"version": 1}
    assert len(json.loads(run(settings, "settings", "show").stdout)["fields"]) == 3
    assert json.loads(run(settings, "settings", "reset", "--json").stdout) == {"version": 2}
    history = json.loads(run(settings, "settings", "show", "--history", "--json").stdout)
    assert [h["action"] for h in history] == ["reset", "set"]


def test_settings_cli_keeps_free_keys(settings: Settings, clean_db: None, tmp_path: Path) -> None:
    """Keys of the caller's own in the settings are set from the file and shown as given, and
    a later partial change (JSON-RPC, REST PATCH) keeps them."""
    document = json.loads(run(settings, "settings", "show").stdout)
    free = {"my_flag": 1, "ui": {"columns": ["phone", "city"], "filter": None}, "Заметка": "текст"}
    path = tmp_path / "q.json"
    path.write_text(json.dumps({**document, **free}, ensure_ascii=False), encoding="utf-8")
    assert json.loads(run(settings, "settings", "set", str(path), "--json").stdout) == {"version": 1}
    shown = json.loads(run(settings, "settings", "show").stdout)
    assert shown == {**document, **free}
    as_json = json.loads(run(settings, "settings", "show", "--json").stdout)
    assert as_json["version"] == 1 and as_json["document"] == shown

    async def partial() -> None:
        async with await psycopg.AsyncConnection.connect(db.resolve(settings).conninfo, autocommit=True) as conn:
            await settings_store.update_settings(conn, {"my_flag": 2})

    asyncio.run(partial())
    assert json.loads(run(settings, "settings", "show").stdout) == {**document, **free, "my_flag": 2}
    assert json.loads(run(settings, "settings", "show", "--version", "1").stdout)["my_flag"] == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"fields": [{"key": "a", "label": "A", "type": "enum"}]}', "an enum needs a non-empty 'options' list"),
        ("{not json", "is not a JSON document"),
        ('{"fields": [], "x": NaN}', "x: a number is finite"),
        ('{"fields": [], "blob": "' + "x" * 300_000 + '"}', "over the limit of 256 KiB"),
    ],
    ids=["enum-without-options", "not-json", "not-a-finite-number", "over-256-kib"],
)
def test_bad_settings_file_is_one_line(
    settings: Settings, clean_db: None, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = run(settings, "settings", "set", str(path))
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_line(settings: Settings) -> None:
    result = run(settings, "db", "status", env={"SERVICES_DB_HOST": "127.0.0.1", "SERVICES_DB_PORT": "1"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: cannot connect to PostgreSQL")


def test_bad_setting_value_names_the_variable(settings: Settings) -> None:
    result = run(settings, "db", "status", env={"SERVICES_DB_PORT": "many"})
    assert result.returncode == 1
    assert "services_db_port" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_public_address_without_tokens(settings: Settings) -> None:
    result = run(settings, "serve", "--host", "0.0.0.0", env={"AUTH_TOKENS": ""})
    assert result.returncode == 1
    assert "refusing to listen on 0.0.0.0" in result.stderr


@pytest.mark.parametrize("command", [["db", "migrate"], ["serve", "--port", "1"]])
def test_no_migrations_found_is_one_line(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """An installation without its migrations fails instead of calling the database up to date."""
    monkeypatch.setattr(db, "migrations_dir", lambda: tmp_path)
    result = CliRunner().invoke(main, command, obj={"settings": settings})
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: no migrations found in {tmp_path}: the installation is incomplete\n"
