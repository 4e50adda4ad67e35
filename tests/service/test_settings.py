"""Questionnaire settings over HTTP: versions, refusal of invalid documents, live effect."""

from __future__ import annotations

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
    return default_document().model_dump(exclude_none=True)


def with_required_nickname() -> dict:
    doc = default_doc()
    doc["fields"].append(
        {"key": "nickname", "label": "Ник", "type": "string", "required": True, "min_length": 3, "search": "text"}
    )
    return doc


def canonical(doc: dict) -> dict:
    return parse_document(doc).model_dump(exclude_none=True)


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
