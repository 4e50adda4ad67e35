"""stats-refresh: the statistics computed for the settings in force, stored as snapshots,
served by GET /stats and `customers stats`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
from typing import Any

import httpx
import psycopg
import pytest

from customers import settings_store
from jobs import stats
from tests.factories import add_customers
from tests.jobs.support import customers_command


def today(conninfo: str) -> dt.date:
    """The database's date: the one the statistics count days back from."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT current_date").fetchone()
    assert row is not None
    return row[0]


def make_customers(conninfo: str) -> dt.date:
    """The customers the statistics are checked against; the date they were made on."""
    made_on = today(conninfo)
    long_ago = made_on.replace(day=1) - dt.timedelta(days=400)
    add_customers(
        conninfo,
        [
            {
                "phone": "+7 900 000-00-01",
                "email": "a@example.com",
                "email_confirmed": True,
                "loyalty_enabled": True,
                "profile": {"city": "Москва", "gender": "female", "interests": ["sport", "books"], "about": "x"},
            },
            {
                "phone": "+7 900 000-00-02",
                "email": "b@example.com",
                "loyalty_enabled": True,
                "profile": {"city": "Москва", "interests": ["books"], "children_count": 2},
            },
            {
                "phone": "+7 900 000-00-03",
                "created": made_on - dt.timedelta(days=3),
                "profile": {"city": "Казань", "interests": []},
                "meta": {"registration_channel": "web"},
            },
            {
                "phone": "+7 900 000-00-04",
                "loyalty_enabled": True,
                "created": long_ago,
                "profile": {"gender": "male", "car_owner": False},
                "blocked": True,
            },
        ],
    )
    return made_on


async def refresh(conninfo: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        return await stats.refresh(conn)


def field(snapshot: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in snapshot["fields"] if f["key"] == key)


def test_statistics_of_the_customer_base(conn: psycopg.Connection[Any], conninfo: str) -> None:
    made_on = make_customers(conninfo)
    snapshot = asyncio.run(refresh(conninfo))
    assert made_on == today(conninfo), "the date changed between making the customers and the snapshot"

    assert snapshot["customers"] == {
        "total": 4,
        "blocked": 1,
        "with_email": 2,
        "confirmed_email": 1,
        "loyalty_enabled": 3,
    }
    per_day = {d["date"]: d["count"] for d in snapshot["created_per_day"]}
    assert len(per_day) == 90
    assert per_day[made_on.isoformat()] == 2
    assert per_day[(made_on - dt.timedelta(days=3)).isoformat()] == 1
    assert sum(per_day.values()) == 3  # the fourth was created more than 90 days ago
    per_month = {m["month"]: m["count"] for m in snapshot["created_per_month"]}
    assert sum(per_month.values()) == 4
    assert per_month[made_on.strftime("%Y-%m")] >= 2

    city = field(snapshot, "city")
    assert city["filled"] == 3 and city["fill_rate"] == 0.75
    assert city["top_values"] == [{"value": "Москва", "count": 2}, {"value": "Казань", "count": 1}]
    interests = field(snapshot, "interests")
    assert interests["filled"] == 2  # an empty list is not an answer
    assert interests["top_values"] == [{"value": "books", "count": 2}, {"value": "sport", "count": 1}]
    assert field(snapshot, "car_owner")["top_values"] == [{"value": "false", "count": 1}]
    assert field(snapshot, "children_count")["top_values"] == [{"value": "2", "count": 1}]
    about = field(snapshot, "about")
    assert about["filled"] == 1 and about["top_values"] is None  # free text: fill rate only
    channel = field(snapshot, "registration_channel")
    assert channel["part"] == "meta" and channel["top_values"] == [{"value": "web", "count": 1}]
    assert field(snapshot, "first_name")["fill_rate"] == 0.0

    stored = conn.execute("SELECT count(*) FROM stats_snapshots").fetchone()
    assert stored == (1,)


def test_fields_follow_the_settings_in_force(conn: psycopg.Connection[Any], conninfo: str) -> None:
    make_customers(conninfo)

    async def set_settings() -> None:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as aconn:
            await settings_store.set_settings(
                aconn,
                {
                    "fields": [
                        {"key": "city", "label": "Город", "type": "string"},
                        {"key": "pet", "label": "Питомец", "type": "enum", "options": ["cat", "dog"]},
                    ]
                },
            )

    asyncio.run(set_settings())
    snapshot = asyncio.run(refresh(conninfo))
    assert [(f["part"], f["key"]) for f in snapshot["fields"]] == [("profile", "city"), ("profile", "pet")]
    assert field(snapshot, "pet")["filled"] == 0
    assert snapshot["settings_version"] == 1


def test_get_stats_serves_the_last_snapshot(api: httpx.Client, reader_api: httpx.Client, conninfo: str) -> None:
    first = reader_api.get("/stats")
    assert first.status_code == 200
    assert first.json()["customers"]["total"] == 0  # none yet: computed on first request

    make_customers(conninfo)
    again = reader_api.get("/stats").json()
    assert again["id"] == first.json()["id"] and again["customers"]["total"] == 0

    assert reader_api.get("/stats", params={"fresh": "true"}).status_code == 403
    fresh = api.get("/stats", params={"fresh": "true"}).json()
    assert fresh["customers"]["total"] == 4 and fresh["id"] != first.json()["id"]
    assert reader_api.get("/stats").json()["id"] == fresh["id"]


def test_stats_command(db_env: dict[str, str], conninfo: str, clean_db: None) -> None:
    make_customers(conninfo)
    done = subprocess.run(
        customers_command("stats", "--fresh", "--json"), env=db_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    snapshot = json.loads(done.stdout)
    assert snapshot["customers"]["total"] == 4
    human = subprocess.run(customers_command("stats"), env=db_env, capture_output=True, text=True, timeout=60)
    assert human.returncode == 0, human.stderr
    assert f"snapshot {snapshot['id']}" in human.stdout and "profile.city" in human.stdout


@pytest.mark.parametrize("fresh", [False, True])
def test_current_computes_when_no_snapshot_exists(conn: psycopg.Connection[Any], conninfo: str, fresh: bool) -> None:
    async def current() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as aconn:
            return await stats.current(aconn, fresh)

    snapshot = asyncio.run(current())
    assert snapshot["customers"]["total"] == 0
    assert conn.execute("SELECT count(*) FROM stats_snapshots").fetchone() == (1,)
