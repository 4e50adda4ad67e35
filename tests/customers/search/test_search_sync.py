"""The write path: every committed write reaches the index; Redis down never fails a write and
is visible in /health; with search off nothing touches Redis."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from customers import search
from customers.config import Settings
from tests.conftest import client_for, start_server
from tests.customers.search.conftest import OwnRedis
from tests.helpers import ADMIN_TOKEN


def _find(api: httpx.Client, **body: object) -> dict:
    response = api.post("/customers/find", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(api: httpx.Client, **body: object) -> list[int]:
    result = _find(api, **body)
    assert result["engine"] == "redisearch", result["fallback"]
    return [c["id"] for c in result["items"]]


def test_every_kind_of_write_reaches_the_index(search_api: httpx.Client) -> None:
    search_api.post("/search/index/init")
    cid = search_api.post(
        "/customers",
        json={"phone": "+7 900 100-00-01", "email": "a@b.ru", "profile": {"first_name": "Гоша", "city": "Тула"}},
    ).json()["id"]
    assert _ids(search_api, query="гош") == [cid]
    search_api.patch(f"/customers/{cid}", json={"profile": {"city": None, "last_name": "Куценко"}})
    # the replaced document keeps no stale field (the 1.2 REPLACE trap)
    assert _ids(search_api, filters=[{"kind": "city", "condition": "eq", "value": "тула"}]) == []
    assert _ids(search_api, filters=[{"kind": "city", "condition": "exists", "value": False}]) == [cid]
    assert _ids(search_api, query="куценко") == [cid]
    search_api.post(f"/customers/{cid}/block")
    assert _ids(search_api, filters=[{"kind": "blocked", "condition": "eq", "value": True}]) == [cid]
    search_api.put(f"/customers/{cid}/phone", json={"phone": "8 900 100-00-09"})
    assert _ids(search_api, filters=[{"kind": "phone", "condition": "eq", "value": "+79001000009"}]) == [cid]
    assert _ids(search_api, filters=[{"kind": "phone", "condition": "eq", "value": "+79001000001"}]) == []
    search_api.put(f"/customers/{cid}/email", json={"email": "New@B.ru"})
    assert _ids(
        search_api,
        filters=[
            {"kind": "email", "condition": "eq", "value": "new@b.ru"},
            {"kind": "email_confirmed", "condition": "eq", "value": False},
        ],
    ) == [cid]
    search_api.post(f"/customers/{cid}/email/activate")
    assert _ids(search_api, filters=[{"kind": "email_confirmed", "condition": "eq", "value": True}]) == [cid]
    assert search_api.delete(f"/customers/{cid}").status_code == 204
    assert _find(search_api, limit=0)["total"] == 0
    health = search_api.get("/health").json()
    assert health["search"]["ok"] is True and health["search"]["index"] is not None


def test_redis_down_never_fails_a_write_and_migrate_repairs(
    own_redis: OwnRedis, settings: Settings, clean_db: None
) -> None:
    from cli.app import create_app

    config = settings.model_copy(update={"search_enabled": True, "services_redis_port": own_redis.port})
    live = start_server(create_app(config))
    try:
        with client_for(live.url, ADMIN_TOKEN) as api:
            assert api.post("/search/index/init").json()["created"] is True
            first = api.post("/customers", json={"phone": "+7 900 200-00-01", "profile": {"city": "Псков"}})
            assert first.status_code == 201
            own_redis.stop()
            written = [
                api.post("/customers", json={"phone": f"+7 900 200-00-1{i}", "profile": {"city": "Псков"}})
                for i in range(3)
            ]
            assert [r.status_code for r in written] == [201, 201, 201]
            assert api.patch(f"/customers/{first.json()['id']}", json={"profile": {"city": "Орёл"}}).status_code == 200
            health = api.get("/health")
            assert health.status_code == 200  # the database is fine: degraded, not down
            body = health.json()
            assert body["status"] == "degraded" and body["search"]["ok"] is False
            assert body["search"]["write_failures"] == 4
            # find keeps working, served by PostgreSQL
            result = _find(api, filters=[{"kind": "city", "condition": "eq", "value": "псков"}])
            assert result["engine"] == "postgresql" and "Redis unavailable" in result["fallback"]
            assert result["total"] == 3
            own_redis.start()  # back, empty
            assert search.migrate_index(config).documents == 4
            again = _find(api, filters=[{"kind": "city", "condition": "eq", "value": "псков"}])
            assert again["engine"] == "redisearch" and again["total"] == 3
            assert _ids(api, filters=[{"kind": "city", "condition": "eq", "value": "орёл"}]) == [first.json()["id"]]
            assert api.get("/health").json()["search"]["find_fallbacks"] >= 1
    finally:
        live.stop()


def test_search_off_never_touches_redis(settings: Settings, clean_db: None) -> None:
    """Point the Redis settings at a socket of ours: with search off nobody connects to it."""
    from cli.app import create_app

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted: list[object] = []

    def watch() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except (TimeoutError, OSError):
                continue

    stop = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    config = settings.model_copy(update={"search_enabled": False, "services_redis_port": listener.getsockname()[1]})
    live = start_server(create_app(config))
    try:
        with client_for(live.url, ADMIN_TOKEN) as api:
            cid = api.post("/customers", json={"phone": "+7 900 300-00-01", "profile": {"city": "Вологда"}}).json()[
                "id"
            ]
            api.patch(f"/customers/{cid}", json={"profile": {"city": "Вязьма"}})
            result = _find(api, filters=[{"kind": "city", "condition": "eq", "value": "вязьма"}])
            assert result == {"total": 1, "items": result["items"], "engine": "postgresql", "fallback": None}
            assert "search" not in api.get("/health").json()
            refused = api.post("/search/index/init")
            assert refused.status_code == 409 and refused.json()["code"] == "SEARCH_DISABLED"
            api.delete(f"/customers/{cid}")
    finally:
        live.stop()
        stop.set()
        watcher.join(2)
        listener.close()
    assert accepted == []


def test_an_index_built_while_source_id_was_a_number_keeps_working_until_migrate(
    search_api: httpx.Client, search_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the upgrade that made source_id text, the index built before it (source_id a
    NUMERIC attribute) still takes every write; find uses it for everything but source_id,
    which PostgreSQL answers until `migrate` builds an index holding the text."""
    from customers.search import schema

    built_before = schema._core

    def core_of_old_indexes() -> list[schema.IndexField]:
        old = schema.IndexField("source_id", "source_id", "numeric", "id", True, "core")
        return [old if f.key == "source_id" else f for f in built_before()]

    monkeypatch.setattr(schema, "_core", core_of_old_indexes)
    search.init_index(search_settings)
    monkeypatch.undo()
    made = [
        search_api.post(
            "/customers", json={"phone": f"+7 900 100-00-0{i}", "source_id": s, "profile": {"city": "Тула"}}
        )
        for i, s in enumerate(["42", "app-ios-43"])
    ]
    assert [r.status_code for r in made] == [201, 201], [r.text for r in made]
    ids = [r.json()["id"] for r in made]
    assert _ids(search_api, filters=[{"kind": "city", "condition": "eq", "value": "тула"}]) == ids
    by_source = {"filters": [{"kind": "source_id", "condition": "eq", "value": "app-ios-43"}]}
    old = _find(search_api, **by_source)
    assert old["engine"] == "postgresql" and "source_id" in old["fallback"]
    assert [c["id"] for c in old["items"]] == [ids[1]]
    assert search_api.get("/health").json()["search"]["write_failures"] == 0
    assert search_api.post("/search/index/migrate").status_code == 200
    assert _ids(search_api, **by_source) == [ids[1]]
