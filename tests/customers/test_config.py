"""Configuration: original names, environment (any case), settings file, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from customers.config import SETTINGS_FILE_ENV, ConfigError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SERVICES_DB_HOST", "SERVICES_DB_PORT", "SEARCH_ENABLED", "AUTH_TOKENS", SETTINGS_FILE_ENV):
        monkeypatch.delenv(name, raising=False)


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICES_DB_HOST", "db.internal")
    monkeypatch.setenv("services_db_port", "6432")
    monkeypatch.setenv("Search_Enabled", "true")
    settings = load_settings()
    assert (settings.services_db_host, settings.services_db_port, settings.search_enabled) == (
        "db.internal",
        6432,
        True,
    )
    assert not settings.embedded


def test_file_environment_and_flags_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "customers.toml"
    path.write_text(
        'services_db_host = "from-file"\nservices_db_port = 7000\nservices_redis_db = 3\n', encoding="utf-8"
    )
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(path))
    monkeypatch.setenv("SERVICES_DB_PORT", "7001")
    settings = load_settings(services_redis_db=5)
    assert settings.services_db_host == "from-file"
    assert settings.services_db_port == 7001
    assert settings.services_redis_db == 5


def test_defaults_use_the_embedded_database() -> None:
    settings = load_settings()
    assert settings.embedded and settings.search_enabled is False
    assert settings.phone_default_region == "RU"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("SERVICES_DB_PORT", "many", "services_db_port"),
        ("PHONE_DEFAULT_REGION", "XX", "unknown phone region"),
        ("AUTH_TOKENS", "root:abcdefghijklmnopq", "auth_tokens must look like"),
        ("AUTH_TOKENS", "admin:short", "shorter than 16"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=fragment):
        load_settings()


def test_missing_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_tokens_map_to_roles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_TOKENS", "admin:aaaaaaaaaaaaaaaa1, reader:bbbbbbbbbbbbbbbb2,admin:cccccccccccccccc3")
    assert load_settings().tokens() == {
        "aaaaaaaaaaaaaaaa1": "admin",
        "bbbbbbbbbbbbbbbb2": "reader",
        "cccccccccccccccc3": "admin",
    }
