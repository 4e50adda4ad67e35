"""Query injection through `find`: sort keys outside the allowed fields are refused, and hostile
free text, filter values and sort keys neither break the RediSearch query nor reach SQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from customers.config import Settings
from tests.conftest import client_for, start_server
from tests.helpers import ADMIN_TOKEN

HOSTILE = [
    "*",
    "@phone:{79*}",
    "-@blocked:{true}",
    "a | b",
    "{x}",
    '"',
    "'; DROP TABLE customers; --",
    ")",
    "+79120000001",
    "@id:[-inf +inf]",
    "~x",
    "%%",
    "\\",
    "1) OR (1=1",
]


@pytest.fixture
def find_api(search_settings: Settings, clean_db: None) -> Iterator[httpx.Client]:
    from cli.app import create_app

    client = redis.Redis(host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=2)
    client.flushdb()
    client.close()
    server = start_server(create_app(search_settings))
    try:
        with client_for(server.url, ADMIN_TOKEN) as api:
            assert api.post("/search/index/init").status_code == 200
            for i, city in enumerate(("Казань", "Москва", "Тверь")):
                assert (
                    api.post(
                        "/customers",
                        json={"phone": f"+7 912 000 20 0{i}", "profile": {"city": city, "first_name": "Анна"}},
                    ).status_code
                    == 201
                )
            yield api
    finally:
        server.stop()


@pytest.mark.parametrize("sort_key", ["id; FLUSHALL", "created DESC", "@city", "profile->>'city'", "id LIMIT 0 0", "1"])
def test_sort_keys_outside_the_allowed_fields_are_422(find_api: httpx.Client, sort_key: str) -> None:
    response = find_api.post("/customers/find", json={"sort_key": sort_key})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "sort_key"


def test_hostile_text_and_values_change_nothing(find_api: httpx.Client) -> None:
    everyone = find_api.post("/customers/find", json={}).json()
    assert everyone["total"] == 3 and everyone["engine"] == "redisearch"
    for value in HOSTILE:
        free = find_api.post("/customers/find", json={"query": value})
        assert free.status_code in (200, 422), (value, free.text)
        if free.status_code == 200:
            # words must match (none here does); punctuation alone is no condition at all
            expected = 0 if any(ch.isalnum() for ch in value) else 3
            assert free.json()["total"] == expected and free.json()["engine"] == "redisearch", value
        tag = find_api.post("/customers/find", json={"filters": [{"kind": "city", "condition": "eq", "value": value}]})
        assert tag.status_code == 200 and tag.json()["total"] == 0, (value, tag.text)
    # the data survived every attempt
    assert find_api.post("/customers/find", json={}).json()["total"] == 3
    assert find_api.post("/customers/find", json={"query": "анна"}).json()["total"] == 3
