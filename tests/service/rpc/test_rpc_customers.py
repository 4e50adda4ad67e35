"""Customers.* and Customers.settings.* over /public/rpc, against the same database as REST."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from customers import store
from tests.factories import add_customer
from tests.helpers import CREATE_DEFAULTS
from tests.service.rpc.rpc_client import Rpc


def test_every_customer_method(rpc: Rpc, api: httpx.Client) -> None:
    created = rpc(
        "Customers.create",
        customer={
            "phone": "8 (912) 345-67-89",
            "email": "Ivan@Example.RU",
            "source_id": "app-ios-43",
            "profile": {"first_name": "Иван", "birth_date": "31.12.1990"},
            "meta": {"legacy_id": "L-1"},
            "subscriptions": {"sms": True},
            "created": "2020-02-29",
            "prioritize_sms_verification": True,
        },
    )
    cid = created["id"]
    expected_keys = {
        "id",
        "phone",
        "source_id",
        "email",
        "email_confirmed",
        "blocked",
        "profile",
        "meta",
        "subscriptions",
        "loyalty_enabled",
        "created",
        "accept_tender_offer",
        "prioritize_sms_verification",
    }
    assert expected_keys <= set(created)
    assert created["phone"] == "79123456789" and created["email"] == "ivan@example.ru"
    assert created["created"] == "2020-02-29"  # a date, not a datetime
    assert created["profile"] == {"first_name": "Иван", "birth_date": "1990-12-31"}
    # one store: REST reads what RPC wrote
    assert api.get(f"/customers/{cid}").json() == created

    assert rpc("Customers.get", id=cid) == created
    assert rpc("Customers.get_by_phone", phone="+7 912 345 67 89") == created
    assert rpc("Customers.get_by_email", email="IVAN@example.ru") == created

    updated = rpc("Customers.update", id=cid, customer={"profile": {"city": "Омск"}, "accept_tender_offer": False})
    assert updated["profile"] == {"first_name": "Иван", "birth_date": "1990-12-31", "city": "Омск"}
    assert updated["accept_tender_offer"] is False

    # the original's results: null for block/unblock/delete, true for the contact changes
    assert rpc("Customers.block", id=cid) is None
    assert rpc("Customers.get", id=cid)["blocked"] is True
    assert rpc("Customers.unblock", id=cid) is None
    assert rpc("Customers.get", id=cid)["blocked"] is False
    assert rpc("Customers.change_phone", id=cid, phone="8-903-111-22-33") is True
    assert rpc("Customers.get", id=cid)["phone"] == "79031112233"
    assert rpc("Customers.get_by_phone", phone="79123456789") is None
    assert rpc("Customers.activate_email", id=cid) is True
    assert rpc("Customers.get", id=cid)["email_confirmed"] is True
    assert rpc("Customers.change_email", id=cid, email="new@example.com") is True
    changed = rpc("Customers.get", id=cid)
    assert changed["email"] == "new@example.com" and changed["email_confirmed"] is False

    assert rpc("Customers.delete", id=cid) is None
    assert rpc("Customers.get", id=cid) is None
    assert api.get(f"/customers/{cid}").status_code == 404


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("Customers.get", {"id": 424242}),
        ("Customers.get_by_phone", {"phone": "79990001122"}),
        ("Customers.get_by_email", {"email": "nobody@example.com"}),
        ("Customers.get_by_card", {"card_id": "1000000000000001"}),
        ("Groups.customer.get_groups", {"customer_id": 424242}),
    ],
)
def test_get_methods_answer_null_when_missing(rpc: Rpc, method: str, params: dict) -> None:
    assert rpc.answer(method, params) == {"id": 0, "result": None}


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("Customers.update", {"id": 424242, "customer": {"loyalty_enabled": False}}),
        ("Customers.delete", {"id": 424242}),
        ("Customers.block", {"id": 424242}),
        ("Customers.unblock", {"id": 424242}),
        ("Customers.change_phone", {"id": 424242, "phone": "79001234567"}),
        ("Customers.change_email", {"id": 424242, "email": "x@example.com"}),
        ("Customers.activate_email", {"id": 424242}),
    ],
)
def test_writes_to_a_missing_customer_are_not_found(rpc: Rpc, method: str, params: dict) -> None:
    error = rpc.error(method, **params)
    assert (error["code"], error["data"]["code"], error["data"]["type"]) == (404, "CUSTOMER_NOT_FOUND", "NotFound")


def test_conflicts_leave_the_customer_unchanged(rpc: Rpc) -> None:
    first = rpc("Customers.create", customer={"phone": "79123456789", "email": "a@example.com"})
    other = rpc("Customers.create", customer={"phone": "79123456780"})
    phone = rpc.error("Customers.change_phone", id=other["id"], phone="8 912 345 67 89")
    assert (phone["code"], phone["data"]["code"]) == (409, "PHONE_EXISTS")
    email = rpc.error("Customers.change_email", id=other["id"], email="A@EXAMPLE.COM")
    assert (email["code"], email["data"]["code"]) == (409, "EMAIL_EXISTS")
    assert rpc("Customers.get", id=other["id"]) == other
    assert rpc("Customers.get", id=first["id"]) == first


@pytest.mark.parametrize(
    ("customer", "field", "code"),
    [
        ({"phone": "12"}, "phone", "INVALID_FORMAT"),
        ({"phone": 79123456789}, "phone", "TYPE_MISMATCH"),
        ({}, "phone", "MISSING"),
        ({"phone": None, "_type": "CustomerCreate"}, "phone", "MISSING"),
        ({"phone": "79123456789", "email": "no-at-sign"}, "email", "INVALID_FORMAT"),
        ({"phone": "79123456789", "created": "31.02.2020"}, "created", "INVALID_FORMAT"),
        ({"phone": "79123456789", "nickname": "x"}, "nickname", "UNKNOWN_FIELD"),
        ({"phone": "79123456789", "profile": {"gender": "x"}}, "profile.gender", "INVALID_ENUM_VALUE"),
    ],
)
def test_create_validation_names_the_field(rpc: Rpc, customer: dict, field: str, code: str) -> None:
    error = rpc.error("Customers.create", customer=customer)
    assert error["code"] == -32702 and error["data"]["type"] == "ModelValidationError"
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in error["data"]["errors"]]
    assert rpc("Customers.get_by_phone", phone="79123456789") is None


def test_source_id_is_text(rpc: Rpc) -> None:
    created = rpc("Customers.create", customer={"phone": "79123456789", "source_id": "Склад №261 «Центральный»"})
    assert created["source_id"] == "Склад №261 «Центральный»"
    assert rpc("Customers.get", id=created["id"])["source_id"] == "Склад №261 «Центральный»"
    updated = rpc("Customers.update", id=created["id"], customer={"source_id": "LEG-007-0000028"})
    assert updated["source_id"] == "LEG-007-0000028"
    for value, code in ((43, "TYPE_MISMATCH"), ("x" * 256, "LENGTH_CONSTRAINT")):
        error = rpc.error("Customers.update", id=created["id"], customer={"source_id": value})
        assert error["code"] == -32702
        assert [(e["field"], e["code"]) for e in error["data"]["errors"]] == [("source_id", code)]
    assert rpc("Customers.get", id=created["id"])["source_id"] == "LEG-007-0000028"


def test_create_defaults_are_those_of_rest(rpc: Rpc, api: httpx.Client) -> None:
    by_rpc = rpc("Customers.create", customer={"phone": "79123456789"})
    by_rest = api.post("/customers", json={"phone": "79123456788"}).json()
    assert {k: by_rpc[k] for k in CREATE_DEFAULTS} == {k: by_rest[k] for k in CREATE_DEFAULTS} == CREATE_DEFAULTS
    # what the published client sends for a plain create: its own defaults, the same values
    typed = rpc(
        "Customers.create",
        customer={
            "phone": "79123456787",
            "email_confirmed": False,
            "loyalty_enabled": False,
            "accept_tender_offer": True,
            "prioritize_sms_verification": False,
        },
    )
    assert {k: typed[k] for k in CREATE_DEFAULTS} == CREATE_DEFAULTS


def test_lookup_with_a_malformed_phone_is_a_validation_error(rpc: Rpc) -> None:
    error = rpc.error("Customers.get_by_phone", phone="not a phone")
    assert error["code"] == -32702 and error["data"]["errors"][0]["field"] == "phone"


def test_update_refuses_phone_and_validates_merged_profile(rpc: Rpc, conninfo: str) -> None:
    cid = add_customer(conninfo, profile={"children_count": 2})["id"]
    bad = rpc.error(
        "Customers.update", id=cid, customer={"profile": {"children_count": 99}, "accept_tender_offer": False}
    )
    assert bad["data"]["errors"][0]["field"] == "profile.children_count"
    unknown = rpc.error("Customers.update", id=cid, customer={"phone": "79000000000"})
    assert unknown["data"]["errors"][0]["code"] == "UNKNOWN_FIELD"
    current = rpc("Customers.get", id=cid)
    assert current["profile"] == {"children_count": 2} and current["accept_tender_offer"] is True


def test_rpc_writes_reach_the_change_listeners(rpc: Rpc) -> None:
    """The search copy hangs on store.on_change: RPC writes must notify it like REST writes."""
    seen: list[tuple[list[int], list[int]]] = []

    async def listener(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        seen.append(([row["id"] for row in upserted], deleted))

    unsubscribe = store.on_change(listener)
    try:
        cid = rpc("Customers.create", customer={"phone": "79123456789"})["id"]
        rpc("Customers.update", id=cid, customer={"loyalty_enabled": False})
        rpc("Customers.block", id=cid)
        rpc("Customers.change_email", id=cid, email="x@example.com")
        rpc("Customers.delete", id=cid)
    finally:
        unsubscribe()
    assert seen == [([cid], []), ([cid], []), ([cid], []), ([cid], []), ([], [cid])]


def test_concurrent_rpc_creates_of_one_phone(live: Any, clean_db: None) -> None:
    from tests.helpers import ADMIN_TOKEN

    body = {"id": 0, "method": "Customers.create", "params": {"customer": {"phone": "+7 912 000 00 01"}}}

    async def burst() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(
            base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            responses = await asyncio.gather(*(client.post("/public/rpc", json=body) for _ in range(20)))
        return [r.json() for r in responses]

    answers = asyncio.run(burst())
    assert sum("result" in a for a in answers) == 1
    assert sorted(a["error"]["data"]["code"] for a in answers if "error" in a) == ["PHONE_EXISTS"] * 19


def test_settings_get_set_reset(rpc: Rpc, api: httpx.Client) -> None:
    initial = rpc("Customers.settings.get")  # the settings object itself, as the original answered
    keys = [f["key"] for f in initial["fields"]]
    assert "first_name" in keys and "version" not in initial
    assert api.get("/settings").json()["document"] == initial  # REST wraps it with the version

    changed = rpc(
        "Customers.settings.set",
        value={
            "fields": [
                {"key": "city", "label": "Город проживания", "type": "string", "max_length": 50, "search": "tag"},
                {
                    "key": "pet_name",
                    "label": "Кличка питомца",
                    "type": "string",
                    "search": "none",
                    "_type": "FieldSpec",
                    "pattern": None,
                },
            ]
        },
    )
    assert api.get("/settings").json()["document"] == changed
    fields = changed["fields"]
    assert [f["key"] for f in fields] == [*keys, "pet_name"]  # merged: nothing else dropped, order kept
    assert next(f for f in fields if f["key"] == "city")["label"] == "Город проживания"
    assert changed["meta_fields"] == initial["meta_fields"]
    assert api.get("/settings").json()["version"] == 1
    # the questionnaire in force changed for creates at once
    created = rpc("Customers.create", customer={"phone": "79123456789", "profile": {"pet_name": "Барсик"}})
    assert created["profile"] == {"pet_name": "Барсик"}
    too_long = rpc.error("Customers.create", customer={"phone": "79000000002", "profile": {"city": "x" * 51}})
    assert too_long["data"]["errors"][0] == {
        "field": "profile.city",
        "code": "LENGTH_CONSTRAINT",
        "message": too_long["data"]["errors"][0]["message"],
    }

    invalid = rpc.error(
        "Customers.settings.set",
        value={"fields": [{"key": "age", "label": "Возраст", "type": "integer", "search": "tag"}]},
    )
    assert invalid["code"] == -32702 and invalid["data"]["code"] == "INVALID_SETTINGS"
    assert "age" in invalid["message"]
    assert rpc("Customers.settings.get") == changed and api.get("/settings").json()["version"] == 1

    reset = rpc("Customers.settings.reset")
    assert reset == initial and [f["key"] for f in reset["fields"]] == keys
    assert (api.get("/settings").json()["version"], api.get("/settings").json()["action"]) == (2, "reset")


def test_dates_are_plain_dates(rpc: Rpc) -> None:
    created = rpc("Customers.create", customer={"phone": "79123456789"})
    assert created["created"] == dt.date.today().isoformat()


def test_concurrent_partial_settings_updates_all_survive(rpc: Rpc, api: httpx.Client, live: Any) -> None:
    from tests.helpers import ADMIN_TOKEN

    def body(n: int) -> dict[str, Any]:
        spec = {"key": f"extra_{n}", "label": f"Extra {n}", "type": "string"}
        return {"id": 0, "method": "Customers.settings.set", "params": {"value": {"fields": [spec]}}}

    async def burst() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(
            base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            responses = await asyncio.gather(*(client.post("/public/rpc", json=body(n)) for n in range(6)))
        return [r.json() for r in responses]

    answers = asyncio.run(burst())
    assert all("result" in a for a in answers), answers
    history = api.get("/settings/history").json()["items"]
    assert sorted(v["version"] for v in history) == [1, 2, 3, 4, 5, 6]
    keys = {f["key"] for f in rpc("Customers.settings.get")["fields"]}
    assert {f"extra_{n}" for n in range(6)} <= keys


def test_phone_lookup_forms_as_rest(rpc: Rpc, api: httpx.Client) -> None:
    """`Customers.get_by_phone` follows the lookup rule of `GET /customers/by-phone/{phone}`."""
    ru = rpc("Customers.create", customer={"phone": "8 916 123 45 67"})
    de = rpc("Customers.create", customer={"phone": "+49 1512 3456789"})
    for given, expected in (
        ("79161234567", ru),
        ("+79161234567", ru),
        ("89161234567", ru),
        ("9161234567", ru),
        ("4915123456789", de),
        ("+4915123456789", de),
    ):
        assert rpc("Customers.get_by_phone", phone=given) == expected, given
        assert api.get(f"/customers/by-phone/{given}").json()["id"] == expected["id"], given
    assert rpc("Customers.get_by_phone", phone="79161230000") is None
    invalid = rpc.error("Customers.get_by_phone", phone="123")
    assert invalid["code"] == -32702 and invalid["data"]["errors"][0]["field"] == "phone"


def test_settings_set_with_an_object_as_key_is_refused(rpc: Rpc, api: httpx.Client) -> None:
    invalid = rpc.error(
        "Customers.settings.set", value={"fields": [{"key": {"a": "b"}, "label": "x", "type": "string"}]}
    )
    assert invalid["code"] == -32702 and invalid["data"]["code"] == "INVALID_SETTINGS"
    assert api.get("/settings").json()["version"] == 0


def test_settings_keep_free_keys(rpc: Rpc, api: httpx.Client) -> None:
    """`Customers.settings.set(value)` is a partial update of a free-form settings object: keys
    the questionnaire does not define are kept as given (nulls included), merged by later sets,
    versioned, and shown by REST too."""
    first = rpc("Customers.settings.set", value={"my_flag": 1})
    assert first["my_flag"] == 1 and api.get("/settings").json()["version"] == 1
    assert rpc("Customers.settings.get")["my_flag"] == 1
    spec = {"key": "pet_name", "label": "Кличка", "type": "string", "max_length": None}
    ui = {"columns": ["phone", "city"], "dense": True, "filter": None, "_type": "mine"}
    second = rpc("Customers.settings.set", value={"fields": [spec], "ui": ui})
    assert second["my_flag"] == 1 and second["ui"] == ui
    assert second["fields"][-1]["key"] == "pet_name"
    assert "max_length" not in second["fields"][-1]  # a null there is "not given", as before
    third = rpc("Customers.settings.set", value={"my_flag": [1, "two", {"three": 3.5}], "fields": None})
    assert third["my_flag"] == [1, "two", {"three": 3.5}]
    assert third["ui"] == ui and third["fields"] == second["fields"]
    assert api.get("/settings").json()["document"] == third
    assert api.get("/settings", params={"version": 1}).json()["document"]["my_flag"] == 1

    # the questionnaire's members stay validated: nothing of a refused set is stored
    refused = rpc.error(
        "Customers.settings.set",
        value={"my_flag": 0, "fields": [{"key": "age", "label": "Возраст", "type": "integer", "search": "tag"}]},
    )
    assert refused["code"] == -32702 and refused["data"]["code"] == "INVALID_SETTINGS"
    # the whole document is limited in size, and the error names the limit
    too_big = rpc.error("Customers.settings.set", value={"blob": "x" * 300_000})
    assert too_big["code"] == -32702 and too_big["data"]["code"] == "INVALID_SETTINGS"
    assert "256 KiB" in too_big["message"]
    assert rpc("Customers.settings.get") == third and api.get("/settings").json()["version"] == 3
