"""Questionnaire settings over HTTP: versions, refusal of invalid documents, live effect."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from customers.config import Settings
from customers.questionnaire import default_document, parse_document
from tests.conftest import client_for, free_port
from tests.helpers import ADMIN_TOKEN


def default_doc() -> dict:
    return default_document().to_json()


def with_required_nickname() -> dict:
    doc = default_doc()
    doc["fields"].append(
        {"key": "nickname", "label": "Ник", "type": "string", "required": True, "min_length": 3, "search": "text"}
    )
    return doc


def canonical(doc: dict) -> dict:
    return parse_document(doc).to_json()


def test_default_settings_before_any_change(api: httpx.Client) -> None:
    body = api.get("/settings").json()
    assert body["version"] == 0
    assert body["document"] == default_doc()
    assert all(not field.get("required", False) for field in body["document"]["fields"])


def test_settings_change_takes_effect_on_next_request(api: httpx.Client) -> None:
    assert api.post("/customers", json={"phone": "79120000001"}).status_code == 201
    put = api.put("/settings", json=with_required_nickname())
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1

    missing = api.post("/customers", json={"phone": "79120000002"})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "profile.nickname", "code": "MISSING", "message": "Field required"}]
    short = api.post("/customers", json={"phone": "79120000002", "profile": {"nickname": "ab"}})
    assert short.json()["errors"][0]["code"] == "LENGTH_CONSTRAINT"
    assert api.post("/customers", json={"phone": "79120000002", "profile": {"nickname": "abc"}}).status_code == 201

    reset = api.post("/settings/reset")
    assert reset.json()["version"] == 2 and reset.json()["action"] == "reset"
    assert api.post("/customers", json={"phone": "79120000003"}).status_code == 201
    history = api.get("/settings/history").json()["items"]
    assert [h["version"] for h in history] == [2, 1]
    assert api.get("/settings", params={"version": 1}).json()["document"] == canonical(with_required_nickname())


def _mutate(path: list, value: object):  # type: ignore[no-untyped-def]
    def apply(doc: dict) -> dict:
        node = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        return doc

    return apply


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_mutate(["fields", 0, "type"], "color"), "fields[0] (key 'first_name').type"),
        (_mutate(["fields", 4, "options"], []), "an enum needs a non-empty 'options' list"),
        (_mutate(["fields", 6, "min"], 30), "min (30) is greater than max (20)"),
        (_mutate(["fields", 1, "key"], "first_name"), "duplicate key 'first_name'"),
        (_mutate(["fields", 0, "pattern"], "([a-z"), "is not a valid regular expression"),
        (_mutate(["fields", 0, "key"], "phone"), "key 'phone' is a core customer field"),
        (_mutate(["fields", 3, "search"], "text"), "does not fit type 'date'"),
        (_mutate(["fields", 0, "colour"], "red"), "colour"),
        (lambda doc: {"fields": "none"}, "fields"),
    ],
)
def test_invalid_settings_are_refused_and_previous_stays(api: httpx.Client, change, message: str) -> None:  # type: ignore[no-untyped-def]
    assert api.put("/settings", json=with_required_nickname()).status_code == 200
    response = api.put("/settings", json=change(copy.deepcopy(default_doc())))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "INVALID_SETTINGS"
    assert message in body["message"]
    current = api.get("/settings").json()
    assert current["version"] == 1
    assert current["document"] == canonical(with_required_nickname())


def test_settings_need_admin(reader_api: httpx.Client, api: httpx.Client) -> None:
    assert reader_api.get("/settings").status_code == 200
    assert reader_api.put("/settings", json=default_doc()).status_code == 403
    assert reader_api.post("/settings/reset").status_code == 403


def test_change_reaches_another_service_process(api: httpx.Client, settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A second service process (started by the CLI) follows a change made through the first."""
    port = free_port()
    env = {
        **os.environ,
        "CUSTOMERS_DATA_DIR": str(settings.customers_data_dir),
        "AUTH_TOKENS": settings.auth_tokens.get_secret_value(),
    }
    if not settings.embedded:
        env.update(SERVICES_DB_HOST=str(settings.services_db_host), SERVICES_DB_DATABASE=settings.services_db_database)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        other = client_for(f"http://127.0.0.1:{port}", ADMIN_TOKEN)
        deadline = time.monotonic() + 30
        while True:
            try:
                if other.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the second service did not start"
            time.sleep(0.1)
        assert other.post("/customers", json={"phone": "79120000010"}).status_code == 201
        api.put("/settings", json=with_required_nickname())
        refused = other.post("/customers", json={"phone": "79120000011"})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "profile.nickname"
        api.post("/settings/reset")
        assert other.post("/customers", json={"phone": "79120000011"}).status_code == 201
        other.close()
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stdout:
            proc.stdout.close()


def test_sample_questionnaire_is_the_shipped_default(project_root) -> None:  # type: ignore[no-untyped-def]
    sample = json.loads((project_root / "data/samples/questionnaire.json").read_text(encoding="utf-8"))
    assert canonical(sample) == default_doc()


def _spec(key: str, label: str, **rules: object) -> dict:
    return {"key": key, "label": label, "type": "string", **rules}


def test_partial_settings_change(api: httpx.Client, reader_api: httpx.Client) -> None:
    """PATCH merges spec by spec: a known key is replaced in place, a new one appended, the rest kept."""
    initial = api.get("/settings").json()["document"]
    keys = [f["key"] for f in initial["fields"]]
    patched = api.patch(
        "/settings",
        json={"fields": [_spec("city", "Город проживания", max_length=50, search="tag"), _spec("pet_name", "Кличка")]},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["version"] == 1 and body["action"] == "set"
    fields = body["document"]["fields"]
    assert [f["key"] for f in fields] == [*keys, "pet_name"]
    assert next(f for f in fields if f["key"] == "city")["label"] == "Город проживания"
    assert body["document"]["meta_fields"] == initial["meta_fields"]
    assert api.get("/settings").json() == body
    # in force for the next request
    assert api.post("/customers", json={"phone": "79120000001", "profile": {"city": "x" * 51}}).status_code == 422
    assert reader_api.patch("/settings", json={"fields": []}).status_code == 403


@pytest.mark.parametrize(
    ("partial", "message"),
    [
        ({"fields": [{"key": "age", "label": "Возраст", "type": "integer", "search": "tag"}]}, "age"),
        ({"fields": [_spec("first_name", "Имя", colour="red")]}, "colour"),
        ({"fields": "none"}, "fields"),
        ({"fields": [{"key": {"nested": "key"}, "label": "x", "type": "string"}]}, "key"),
    ],
)
def test_invalid_partial_settings_are_refused_and_previous_stays(
    api: httpx.Client, partial: dict, message: str
) -> None:
    assert api.put("/settings", json=with_required_nickname()).status_code == 200
    response = api.patch("/settings", json=partial)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "INVALID_SETTINGS"
    assert message in response.json()["message"]
    current = api.get("/settings").json()
    assert current["version"] == 1 and current["document"] == canonical(with_required_nickname())


def test_partial_settings_change_matches_json_rpc(api: httpx.Client) -> None:
    """REST PATCH and JSON-RPC `Customers.settings.set` put the same document in force."""
    partial = {"fields": [_spec("city", "Город", max_length=40)], "meta_fields": [_spec("campaign", "Кампания")]}
    over_rest = api.patch("/settings", json=partial).json()["document"]
    api.post("/settings/reset")
    answer = api.post("/public/rpc", json={"id": 0, "method": "Customers.settings.set", "params": {"value": partial}})
    assert answer.json()["result"] == over_rest  # JSON-RPC answers the settings object itself


def test_concurrent_partial_settings_changes_all_survive(api: httpx.Client, live) -> None:  # type: ignore[no-untyped-def]
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            return await asyncio.gather(
                *(client.patch("/settings", json={"fields": [_spec(f"extra_{n}", f"Extra {n}")]}) for n in range(6))
            )

    responses = asyncio.run(burst())
    assert sorted(r.json()["version"] for r in responses) == [1, 2, 3, 4, 5, 6]
    keys = {f["key"] for f in api.get("/settings").json()["document"]["fields"]}
    assert {f"extra_{n}" for n in range(6)} <= keys


def test_free_settings_keys_over_rest(api: httpx.Client, reader_api: httpx.Client) -> None:
    """Keys the questionnaire does not define are the caller's own: kept by PUT and PATCH as
    given, merged key by key by PATCH, versioned, shown by GET; the document is at most 256 KiB."""
    free = {"my_flag": 1, "ui": {"columns": ["phone"], "filter": None}, "Заметка": "текст"}
    put = api.put("/settings", json={**with_required_nickname(), **free})
    assert put.status_code == 200, put.text
    assert {k: put.json()["document"][k] for k in free} == free
    assert reader_api.get("/settings").json()["document"] == put.json()["document"]

    patched = api.patch("/settings", json={"my_flag": {"on": True}, "fields": [_spec("pet_name", "Кличка")]})
    assert patched.status_code == 200, patched.text
    document = patched.json()["document"]
    assert document["my_flag"] == {"on": True}  # replaced
    assert document["ui"] == free["ui"] and document["Заметка"] == "текст"  # kept
    assert api.patch("/settings", json={"ui": None}).json()["document"]["ui"] is None  # any JSON value
    assert api.get("/settings", params={"version": 1}).json()["document"]["my_flag"] == 1

    # a PUT replaces the whole document: keys it does not give are gone
    replaced = api.put("/settings", json={**default_doc(), "only": "this"}).json()["document"]
    assert replaced == {**default_doc(), "only": "this"}

    too_big = api.patch("/settings", json={"blob": "x" * 300_000})
    assert too_big.status_code == 422 and too_big.json()["code"] == "INVALID_SETTINGS"
    assert "256 KiB" in too_big.json()["message"]
    assert api.get("/settings").json()["document"] == replaced
