"""Schedule specs and fire-time arithmetic (no database)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from customers.config import SETTINGS_FILE_ENV, ConfigError, Settings
from jobs.schedule import entries_for
from jobs.triggers import EPOCH, describe, last_fire, load_jobs_settings, next_fire, parse_spec
from tests.jobs.support import jobs_settings

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 26, 10, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "shown", "last", "next_"),
    [
        ("every 15m", "every 15m", "10:00:00", "10:15:00"),
        ("every 90s", "every 90s", "10:07:30", "10:07:30"),
        ("every 1h", "every 1h", "10:00:00", "11:00:00"),
        ("Every  2 d", "every 2d", None, None),
        ("*/10 * * * *", "*/10 * * * * (UTC)", "10:00:00", "10:10:00"),
        ("30 2 * * *", "30 2 * * * (UTC)", None, None),
    ],
)
def test_specs_and_fire_times(spec: str, shown: str, last: str | None, next_: str | None) -> None:
    trigger = parse_spec(spec)
    assert trigger is not None and describe(trigger) == shown
    if last is not None:
        found = last_fire(trigger, NOW)
        assert found is not None and found.astimezone(UTC).strftime("%H:%M:%S") == last
        upcoming = next_fire(trigger, NOW)
        assert upcoming is not None and upcoming.astimezone(UTC).strftime("%H:%M:%S") == next_


def test_interval_fire_times_are_the_same_for_every_process() -> None:
    # anchored at an epoch, not at the moment a process started
    a, b = parse_spec("every 7s"), parse_spec("every 7s")
    assert a is not None and b is not None
    assert next_fire(a, NOW) == next_fire(b, NOW)
    last = last_fire(a, NOW)
    assert last is not None and NOW - last < dt.timedelta(seconds=7)
    assert (last - EPOCH) % dt.timedelta(seconds=7) == dt.timedelta(0)


def test_nightly_cron_last_fire_within_the_horizon() -> None:
    trigger = parse_spec("30 2 * * *", "Europe/Moscow")
    assert trigger is not None
    found = last_fire(trigger, NOW, horizon=86400)
    assert found is not None and found.astimezone(UTC) == dt.datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert last_fire(trigger, NOW, horizon=600) is None


@pytest.mark.parametrize("spec", ["off", "OFF", " disabled ", "never"])
def test_off(spec: str) -> None:
    assert parse_spec(spec) is None


@pytest.mark.parametrize("spec", ["every banana", "every 0s", "* * *", "61 * * * *", ""])
def test_bad_specs_name_the_setting(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"jobs_schedule\.brin-summarize"):
        parse_spec(spec, name="setting jobs_schedule.brin-summarize")


def test_entries_apply_overrides_and_refuse_unknown_jobs(settings: Settings) -> None:
    entries = {e.name: e for e in entries_for(settings, jobs_settings(import_cleanup="off", brin_summarize="every 5m"))}
    assert entries["brin-summarize"].schedule == "every 5m" and entries["brin-summarize"].active
    assert entries["import-cleanup"].schedule == "off" and not entries["import-cleanup"].active
    assert entries["stats-refresh"].schedule == "every 15m"
    with pytest.raises(ConfigError, match="unknown job 'nope'"):
        entries_for(settings, jobs_settings(nope="every 1s"))


def test_schedule_from_the_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        'jobs_timezone = "Europe/Moscow"\n\n[jobs_schedule]\n"search-migrate" = "0 3 * * *"\nbrin-summarize = "off"\n'
    )
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(path))
    monkeypatch.delenv("JOBS_SCHEDULE", raising=False)
    loaded = load_jobs_settings()
    assert loaded.jobs_schedule == {"search-migrate": "0 3 * * *", "brin-summarize": "off"}
    assert loaded.jobs_timezone == "Europe/Moscow"
    # the environment wins job by job; jobs it does not name keep the file's schedule
    monkeypatch.setenv("JOBS_SCHEDULE", '{"stats-refresh": "every 1h", "brin-summarize": "every 5m"}')
    assert load_jobs_settings().jobs_schedule == {
        "search-migrate": "0 3 * * *",
        "brin-summarize": "every 5m",
        "stats-refresh": "every 1h",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [("JOBS_LEADER_RETRY_SECONDS", "20"), ("JOBS_TIMEZONE", "Mars/Olympus"), ("JOBS_SCHEDULE", "not json")],
)
def test_bad_scheduler_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.delenv(SETTINGS_FILE_ENV, raising=False)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name.lower()):
        load_jobs_settings()
