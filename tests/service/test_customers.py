"""Customer CRUD over HTTP against the live service and a real PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import ADMIN_TOKEN, CREATE_DEFAULTS


def create(api: httpx.Client, phone: str = "+7 (912) 345-67-89", **fields: object) -> dict:
    response = api.post("/customers", json={"phone": phone, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_crud_round_trip(api: httpx.Client) -> None:
    created = create(
        api,
        email="Ivan.Petrov@Example.RU",
        profile={"first_name": "Иван", "birth_date": "31.12.1990", "interests": ["sport", "books"]},
        meta={"legacy_id": "L-1"},
        subscriptions={"sms": True},
    )
    assert created["id"] > 0
    assert created["phone"] == "79123456789"
    assert created["email"] == "ivan.petrov@example.ru"
    assert created["profile"] == {"first_name": "Иван", "birth_date": "1990-12-31", "interests": ["sport", "books"]}
    assert created["loyalty_enabled"] is False and created["blocked"] is False
    cid = created["id"]

    assert api.get(f"/customers/{cid}").json() == created
    for phone in ("8 912 345 67 89", "79123456789", "+7 (912) 345-67-89"):
        assert api.get(f"/customers/by-phone/{phone}").json()["id"] == cid
    assert api.get("/customers/by-email/IVAN.PETROV@example.ru").json()["id"] == cid

    updated = api.patch(
        f"/customers/{cid}", json={"profile": {"last_name": "Петров", "interests": None}, "loyalty_enabled": False}
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["profile"] == {"first_name": "Иван", "birth_date": "1990-12-31", "last_name": "Петров"}
    assert body["loyalty_enabled"] is False
    assert body["updated_at"] >= created["updated_at"]

    assert api.post(f"/customers/{cid}/block").json()["blocked"] is True
    assert api.post(f"/customers/{cid}/unblock").json()["blocked"] is False

    moved = api.put(f"/customers/{cid}/phone", json={"phone": "8-903-111-22-33"})
    assert moved.json()["phone"] == "79031112233"
    assert api.get("/customers/by-phone/79123456789").status_code == 404

    confirmed = api.post(f"/customers/{cid}/email/activate").json()
    assert confirmed["email_confirmed"] is True
    changed = api.put(f"/customers/{cid}/email", json={"email": "new@example.com"}).json()
    assert changed["email"] == "new@example.com" and changed["email_confirmed"] is False

    assert api.delete(f"/customers/{cid}").status_code == 204
    missing = api.get(f"/customers/{cid}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "CUSTOMER_NOT_FOUND"


def test_create_with_phone_alone_uses_defaults(api: httpx.Client) -> None:
    created = create(api, "89001234567")
    assert created["profile"] == {} and created["email"] is None and created["source_id"] is None
    assert created["created"] == __import__("datetime").date.today().isoformat()
    # the create defaults of the original service, the same over JSON-RPC and in bulk files
    assert {k: created[k] for k in CREATE_DEFAULTS} == CREATE_DEFAULTS
    # the documented schema gives the flags' defaults
    schema = api.get("/openapi.json").json()["components"]["schemas"]["CustomerCreate"]["properties"]
    flags = ("email_confirmed", "loyalty_enabled", "accept_tender_offer", "prioritize_sms_verification")
    assert {k: schema[k]["default"] for k in flags} == {k: CREATE_DEFAULTS[k] for k in flags}


@pytest.mark.parametrize("source_id", ["LEG-007-0000028", "app-ios-43", "Склад №261 «Центральный»", "x" * 255])
def test_source_id_is_text(api: httpx.Client, source_id: str) -> None:
    created = create(api, source_id=source_id)
    assert created["source_id"] == source_id
    assert api.get(f"/customers/{created['id']}").json()["source_id"] == source_id
    changed = api.patch(f"/customers/{created['id']}", json={"source_id": "app-android-7"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["source_id"] == "app-android-7"
    assert api.get(f"/customers/by-phone/{created['phone']}").json()["source_id"] == "app-android-7"
    too_long = api.patch(f"/customers/{created['id']}", json={"source_id": "я" * 256})
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "source_id"
    assert too_long.json()["errors"][0]["code"] == "LENGTH_CONSTRAINT"
    schema = api.get("/openapi.json").json()["components"]["schemas"]["Customer"]["properties"]["source_id"]
    assert {"type": "string"} in schema["anyOf"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/customers/999999", "get"),
        ("/customers/999999", "patch"),
        ("/customers/999999", "delete"),
        ("/customers/999999/block", "post"),
        ("/customers/999999/unblock", "post"),
        ("/customers/999999/email/activate", "post"),
        ("/customers/by-phone/79990001122", "get"),
        ("/customers/by-email/nobody@example.com", "get"),
    ],
)
def test_missing_customer_is_404(api: httpx.Client, path: str, method: str) -> None:
    kwargs = {"json": {}} if method == "patch" else {}
    response = api.request(method.upper(), path, **kwargs)
    assert response.status_code == 404
    assert response.json()["code"] == "CUSTOMER_NOT_FOUND"


def test_duplicate_phone_and_email_conflict(api: httpx.Client) -> None:
    first = create(api, "79123456789", email="a@example.com")
    other = create(api, "79123456780")

    same_phone = api.post("/customers", json={"phone": "8 (912) 345-67-89"})
    assert same_phone.status_code == 409
    assert same_phone.json()["code"] == "PHONE_EXISTS"

    same_email = api.post("/customers", json={"phone": "79123456781", "email": "A@EXAMPLE.COM"})
    assert same_email.status_code == 409
    assert same_email.json()["code"] == "EMAIL_EXISTS"

    assert api.put(f"/customers/{other['id']}/phone", json={"phone": first["phone"]}).json()["code"] == "PHONE_EXISTS"
    clash = api.put(f"/customers/{other['id']}/email", json={"email": "a@example.com"})
    assert clash.status_code == 409 and clash.json()["code"] == "EMAIL_EXISTS"
    # nothing changed by the refused requests
    assert api.get(f"/customers/{other['id']}").json() == other


def test_concurrent_creates_of_one_phone(api: httpx.Client, live) -> None:  # type: ignore[no-untyped-def]
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            return await asyncio.gather(
                *(
                    client.post("/customers", json={"phone": "+7 912 000 00 01", "profile": {"first_name": f"N{i}"}})
                    for i in range(50)
                )
            )

    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1
    assert statuses.count(409) == 49
    assert all(r.json()["code"] == "PHONE_EXISTS" for r in responses if r.status_code == 409)


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"phone": "12"}, "phone", "INVALID_FORMAT"),
        ({"phone": "not a phone"}, "phone", "INVALID_FORMAT"),
        ({"phone": 79123456789}, "phone", "TYPE_MISMATCH"),
        ({}, "phone", "MISSING"),
        ({"phone": "79123456789", "email": "no-at-sign"}, "email", "INVALID_FORMAT"),
        ({"phone": "79123456789", "loyalty_enabled": "yes"}, "loyalty_enabled", "TYPE_MISMATCH"),
        ({"phone": "79123456789", "source_id": 12}, "source_id", "TYPE_MISMATCH"),
        ({"phone": "79123456789", "source_id": "x" * 256}, "source_id", "LENGTH_CONSTRAINT"),
        ({"phone": "79123456789", "created": "31.02.2020"}, "created", "INVALID_FORMAT"),
        ({"phone": "79123456789", "nickname": "x"}, "nickname", "UNKNOWN_FIELD"),
        ({"phone": "79123456789", "profile": {"nickname": "x"}}, "profile.nickname", "UNKNOWN_FIELD"),
        ({"phone": "79123456789", "profile": []}, "profile", "TYPE_MISMATCH"),
        (
            {"phone": "79123456789", "meta": {"registration_channel": "fax"}},
            "meta.registration_channel",
            "INVALID_ENUM_VALUE",
        ),
    ],
)
def test_bad_input_is_422_naming_the_field(api: httpx.Client, body: dict, field: str, code: str) -> None:
    response = api.post("/customers", json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["code"] == "VALIDATION_FAILED"
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in payload["errors"]]
    assert api.get("/customers/by-phone/79123456789").status_code == 404


def test_every_error_is_reported_at_once(api: httpx.Client) -> None:
    response = api.post(
        "/customers", json={"phone": "1", "email": "x", "profile": {"children_count": -1, "gender": "x"}}
    )
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"phone", "email", "profile.children_count", "profile.gender"}


@pytest.mark.parametrize(
    "content",
    [b"{", b"not json", b'{"phone": "79123456789",}', b"[1, 2]", b"\xff\xfe", b"null"],
)
def test_malformed_json_is_422(api: httpx.Client, content: bytes) -> None:
    response = api.post("/customers", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_FAILED"


def test_update_validates_the_merged_profile(api: httpx.Client) -> None:
    cid = create(api, profile={"children_count": 2})["id"]
    bad = api.patch(f"/customers/{cid}", json={"profile": {"children_count": 99}, "accept_tender_offer": False})
    assert bad.status_code == 422
    assert bad.json()["errors"][0] == {
        "field": "profile.children_count",
        "code": "NUMBER_CONSTRAINT",
        "message": bad.json()["errors"][0]["message"],
    }
    # the failed request changed nothing
    current = api.get(f"/customers/{cid}").json()
    assert current["profile"] == {"children_count": 2} and current["accept_tender_offer"] is True
    assert api.patch(f"/customers/{cid}", json={"phone": "79000000000"}).json()["errors"][0]["code"] == "UNKNOWN_FIELD"


def test_activate_email_without_email_is_refused(api: httpx.Client) -> None:
    cid = create(api)["id"]
    response = api.post(f"/customers/{cid}/email/activate")
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "email",
        "code": "MISSING",
        "message": "the customer has no email to activate",
    }


def test_non_numeric_id_is_no_customer_path(api: httpx.Client) -> None:
    # ids are digits: anything else names no resource (and never reaches the database)
    for method in ("GET", "PATCH", "DELETE"):
        response = api.request(method, "/customers/abc", json={} if method == "PATCH" else None)
        assert response.status_code == 404, method
        assert response.json()["code"] == "NOT_FOUND"


def test_patch_sets_blocked_email_and_its_confirmation_and_put_email_null_removes_it(api: httpx.Client) -> None:
    cid = create(api)["id"]
    patched = api.patch(f"/customers/{cid}", json={"blocked": True, "email": "Patched@Example.com"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["blocked"], body["email"], body["email_confirmed"]) == (True, "patched@example.com", False)
    confirmed = api.patch(f"/customers/{cid}", json={"email_confirmed": True}).json()
    assert confirmed["email_confirmed"] is True
    assert api.get(f"/customers/{cid}").json() == confirmed

    refused = api.patch(f"/customers/{cid}", json={"email": "no at sign", "blocked": False})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "email"
    assert api.get(f"/customers/{cid}").json() == confirmed

    removed = api.put(f"/customers/{cid}/email", json={"email": None}).json()
    assert (removed["email"], removed["email_confirmed"]) == (None, False)
