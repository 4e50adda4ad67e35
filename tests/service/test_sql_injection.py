"""SQL injection through every parameter: path, query and body values and keys. Nothing is
executed; accepted text is stored literally; refused text is a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

PAYLOADS = [
    "' OR '1'='1",
    "1 OR 1=1",
    "'; DROP TABLE customers; --",
    "79161110001' OR phone LIKE '%",
    "x'); DELETE FROM customers; --",
    "\\'; TRUNCATE customers; --",
    "1; SELECT pg_sleep(5)",
    "$1 $$ ; drop table customers $$",
    "%(phone)s %s {0}",
    "' UNION SELECT id, phone, email FROM customers --",
    "\x00",
]


def _intact(api: httpx.Client, seeded: list[dict[str, Any]], count: Callable[[], int], at_least: int) -> None:
    assert count() >= at_least
    for customer in seeded:
        response = api.get(f"/customers/{customer['id']}")
        assert response.status_code == 200
        assert response.json()["phone"] == customer["phone"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_path_parameters(
    api: httpx.Client, seeded: list[dict[str, Any]], count_customers: Callable[[], int], payload: str
) -> None:
    for path in (
        f"/customers/by-phone/{quote(payload, safe='')}",
        f"/customers/by-email/{quote(payload, safe='')}",
        f"/customers/{quote(payload, safe='')}",
        f"/customers/{quote(payload, safe='')}/block",
    ):
        response = api.request("POST" if path.endswith("/block") else "GET", path)
        assert response.status_code in (404, 405, 422), (path, response.status_code, response.text)
        assert response.json()["code"] != "INTERNAL_ERROR"
    _intact(api, seeded, count_customers, len(seeded))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_query_parameters(
    api: httpx.Client, seeded: list[dict[str, Any]], count_customers: Callable[[], int], payload: str
) -> None:
    response = api.get("/settings", params={"version": payload})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "version"
    _intact(api, seeded, count_customers, len(seeded))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_body_values_are_refused_or_stored_literally(
    api: httpx.Client, seeded: list[dict[str, Any]], count_customers: Callable[[], int], payload: str
) -> None:
    target = seeded[0]["id"]
    # text fields that take any string: stored exactly as given
    created = api.post(
        "/customers",
        json={
            "phone": "79161119999",
            "source_id": payload,
            "profile": {"first_name": payload[:100], "about": payload},
            "meta": {"legacy_id": payload[:64]},
            "subscriptions": {payload: True},
        },
    )
    if "\x00" in payload:
        # PostgreSQL text cannot hold NUL: refused, naming each field that holds one (was a 500)
        assert created.status_code == 422, created.text
        assert {e["field"] for e in created.json()["errors"]} == {
            "source_id",
            "profile.first_name",
            "profile.about",
            "meta.legacy_id",
            "subscriptions",
        }
    else:
        assert created.status_code == 201, created.text
        stored = api.get(f"/customers/{created.json()['id']}").json()
        assert stored["source_id"] == payload
        assert stored["profile"]["about"] == payload
        assert stored["meta"]["legacy_id"] == payload[:64]
        assert stored["subscriptions"] == {payload: True}
        assert api.delete(f"/customers/{created.json()['id']}").status_code == 204
    # fields with a format: refused with the field named
    for path, method, body, field in (
        ("/customers", "POST", {"phone": payload}, "phone"),
        ("/customers", "POST", {"phone": "79161118888", "email": payload}, "email"),
        (f"/customers/{target}/phone", "PUT", {"phone": payload}, "phone"),
        (f"/customers/{target}/email", "PUT", {"email": payload}, "email"),
        (f"/customers/{target}", "PATCH", {"profile": {"gender": payload}}, "profile.gender"),
        (f"/customers/{target}", "PATCH", {"profile": {payload or "k": "v"}}, None),
        (f"/customers/{target}", "PATCH", {"source_id": payload * 256}, "source_id"),
    ):
        response = api.request(method, path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        errors = response.json()["errors"]
        if field is not None:
            assert errors[0]["field"] == field, errors
    _intact(api, seeded, count_customers, len(seeded))


@pytest.mark.parametrize("payload", PAYLOADS[:4])
def test_settings_document(
    api: httpx.Client, seeded: list[dict[str, Any]], count_customers: Callable[[], int], payload: str
) -> None:
    before = api.get("/settings").json()["version"]
    bad_key = api.put("/settings", json={"fields": [{"key": payload, "label": "x", "type": "string"}]})
    assert bad_key.status_code == 422
    assert bad_key.json()["code"] == "INVALID_SETTINGS"
    label = api.put("/settings", json={"fields": [{"key": "nick", "label": payload, "type": "string"}]})
    assert label.status_code == 200, label.text
    assert api.get("/settings").json()["document"]["fields"][0]["label"] == payload
    assert api.get("/settings").json()["version"] == before + 1
    _intact(api, seeded, count_customers, len(seeded))
