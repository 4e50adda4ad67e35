"""Customers.cards.* and Customers.get_by_card over /public/rpc (REST: tests/service)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
import psycopg
import pytest

from customers.config import Settings
from tests.factories import add_customer
from tests.helpers import ADMIN_TOKEN
from tests.service.rpc.rpc_client import Rpc

CARD_KEYS = {"created", "customer_id", "type", "id", "enabled"}


@pytest.mark.parametrize(
    ("card_type", "prefix"), [(None, "1"), ("VIRTUAL", "1"), ("APPLE", "2"), ("google", "3"), ("PERSONAL_OFFER", "9")]
)
def test_generated_cards_carry_the_type_prefix(rpc: Rpc, card_type: str | None, prefix: str, conninfo: str) -> None:
    cid = add_customer(conninfo)["id"]
    card = rpc("Customers.cards.create", customer_id=cid, card_type=card_type)
    assert set(card) == CARD_KEYS
    assert card["customer_id"] == cid and card["enabled"] is True
    assert card["type"] == (card_type or "VIRTUAL").upper()
    assert card["id"].startswith(prefix) and card["id"].isdigit() and len(card["id"]) == 16
    assert len(card["created"]) == 10  # YYYY-MM-DD
    assert rpc("Customers.get_by_card", card_id=card["id"])["id"] == cid


def test_generated_ids_are_unique_and_not_sequential(rpc: Rpc, conninfo: str) -> None:
    cid = add_customer(conninfo)["id"]
    batch = [{"id": 0, "method": "Customers.cards.create", "params": {"customer_id": cid, "card_type": "VIRTUAL"}}] * 30
    ids = [int(a["result"]["id"]) for a in rpc.post(batch).json()]
    assert len(set(ids)) == 30
    steps = {b - a for a, b in itertools.pairwise(ids)}
    assert len(steps) > 20  # random draws, not a counter
    assert len(rpc("Customers.cards.list", customer_id=cid)) == 30


def test_physical_cards_are_added_and_checked(rpc: Rpc, conninfo: str) -> None:
    first = add_customer(conninfo, phone="79000000001")["id"]
    second = add_customer(conninfo, phone="79000000002")["id"]
    card = rpc("Customers.cards.add", customer_id=first, card_id="4410000012345")
    assert card == {
        "created": card["created"],
        "customer_id": first,
        "type": "PHYSICAL",
        "id": "4410000012345",
        "enabled": True,
    }

    for wrong in ("5550000012345", "441000", "44100000123X5", "4410000000000000000000"):
        error = rpc.error("Customers.cards.add", customer_id=first, card_id=wrong)
        assert error["code"] == -32702
        assert error["data"]["code"] == "INVALID_CARD_FMT" and error["data"]["type"] == "ModelValidationError"
        assert error["data"]["errors"][0]["field"] == "card_id"

    for owner in (second, first):
        taken = rpc.error("Customers.cards.add", customer_id=owner, card_id="4410000012345")
        assert (taken["code"], taken["data"]["code"], taken["data"]["type"]) == (409, "CARD_EXISTS", "Conflict")
    assert rpc("Customers.cards.list", customer_id=second) == []
    assert rpc("Customers.get_by_card", card_id="4410000012345")["id"] == first


def test_card_types_that_are_not_generated(rpc: Rpc, conninfo: str) -> None:
    cid = add_customer(conninfo)["id"]
    for card_type in ("PHYSICAL", "TEMP", "PLATINUM"):
        error = rpc.error("Customers.cards.create", customer_id=cid, card_type=card_type)
        assert error["code"] == -32702
        assert error["data"]["errors"][0]["field"] == "card_type"
    assert rpc("Customers.cards.list", customer_id=cid) == []


def test_deactivated_cards_no_longer_resolve(rpc: Rpc, conninfo: str) -> None:
    cid = add_customer(conninfo)["id"]
    kept = rpc("Customers.cards.create", customer_id=cid)
    dropped = rpc("Customers.cards.create", customer_id=cid, card_type="APPLE")
    assert rpc("Customers.cards.deactivate", customer_id=cid, card_id=dropped["id"]) is True
    assert rpc("Customers.get_by_card", card_id=dropped["id"]) is None
    assert rpc("Customers.get_by_card", card_id=kept["id"])["id"] == cid
    listed = rpc("Customers.cards.list", customer_id=cid)
    assert {c["id"]: c["enabled"] for c in listed} == {kept["id"]: True, dropped["id"]: False}
    assert [c for c in listed if c["id"] == dropped["id"]] == [{**dropped, "enabled": False}]
    # deactivating again is no error: the card is off either way
    assert rpc("Customers.cards.deactivate", customer_id=cid, card_id=dropped["id"]) is True
    assert all(set(c) == CARD_KEYS for c in listed)
    # a deactivated number still belongs to its customer
    other = add_customer(conninfo, phone="79000000009")["id"]
    physical = rpc("Customers.cards.add", customer_id=cid, card_id="4419999999999")
    assert rpc("Customers.cards.deactivate", customer_id=cid, card_id=physical["id"]) is True
    assert rpc.error("Customers.cards.add", customer_id=other, card_id=physical["id"])["data"]["code"] == "CARD_EXISTS"


def test_card_errors_for_missing_things(rpc: Rpc, conninfo: str) -> None:
    cid = add_customer(conninfo)["id"]
    card = rpc("Customers.cards.create", customer_id=cid)
    other = add_customer(conninfo, phone="79000000003")["id"]
    not_theirs = rpc.error("Customers.cards.deactivate", customer_id=other, card_id=card["id"])
    assert (not_theirs["code"], not_theirs["data"]["code"]) == (404, "CARD_NOT_FOUND")
    for method, params in (
        ("Customers.cards.create", {"customer_id": 999999}),
        ("Customers.cards.add", {"customer_id": 999999, "card_id": "4410000054321"}),
        ("Customers.cards.list", {"customer_id": 999999}),
        ("Customers.cards.deactivate", {"customer_id": 999999, "card_id": card["id"]}),
        ("Customers.cards.create_temp_card", {"customer_id": 999999}),
    ):
        error = rpc.error(method, **params)
        assert (error["code"], error["data"]["code"]) == (404, "CUSTOMER_NOT_FOUND"), method
    assert rpc("Customers.get_by_card", card_id=card["id"])["id"] == cid
    # deleting the customer takes the cards along
    rpc("Customers.delete", id=cid)
    assert rpc("Customers.get_by_card", card_id=card["id"]) is None


def test_login_codes(rpc: Rpc, settings: Settings, conninfo: str) -> None:
    cid = add_customer(conninfo)["id"]
    code = rpc("Customers.cards.create_temp_card", customer_id=cid)
    assert set(code) == {"value", "expires_after"}
    assert code["expires_after"] == settings.login_code_ttl_seconds
    assert code["value"].startswith("0") and code["value"].isdigit() and len(code["value"]) == 16
    assert rpc("Customers.get_by_card", card_id=code["value"])["id"] == cid
    assert rpc("Customers.cards.list", customer_id=cid) == []  # a login code is not a card

    again = rpc("Customers.cards.create_temp_card", customer_id=cid)
    assert again["value"] != code["value"]
    assert rpc("Customers.get_by_card", card_id=code["value"]) is None  # replaced
    assert rpc("Customers.get_by_card", card_id=again["value"])["id"] == cid


def test_login_codes_expire(settings: Settings, clean_db: None, conninfo: str) -> None:
    from cli.app import create_app
    from tests.conftest import start_server

    server = start_server(create_app(settings.model_copy(update={"login_code_ttl_seconds": 1})))
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        ) as client:
            rpc = Rpc(client)
            cid = add_customer(conninfo)["id"]
            code = rpc("Customers.cards.create_temp_card", customer_id=cid)
            assert code["expires_after"] == 1
            assert rpc("Customers.get_by_card", card_id=code["value"])["id"] == cid
            with psycopg.connect(conninfo, autocommit=True) as conn:
                lifetime = conn.execute(
                    "SELECT expires_at - created_at FROM login_codes WHERE value = %s", (code["value"],)
                ).fetchone()
                assert lifetime == (dt.timedelta(seconds=1),)
                # the code's second passes: its row moved back by its lifetime instead of waiting
                conn.execute(
                    "UPDATE login_codes SET created_at = created_at - %(ttl)s, expires_at = expires_at - %(ttl)s "
                    "WHERE value = %(value)s",
                    {"ttl": dt.timedelta(seconds=1), "value": code["value"]},
                )
            assert rpc("Customers.get_by_card", card_id=code["value"]) is None
            fresh = rpc("Customers.cards.create_temp_card", customer_id=cid)  # and can be created again
            assert rpc("Customers.get_by_card", card_id=fresh["value"])["id"] == cid
    finally:
        server.stop()


def test_reader_may_look_up_but_not_issue(reader_rpc: Rpc, live: Any, conninfo: str) -> None:
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin_client:
        admin = Rpc(admin_client)
        cid = add_customer(conninfo)["id"]
        card = admin("Customers.cards.create", customer_id=cid)
    assert reader_rpc("Customers.get_by_card", card_id=card["id"])["id"] == cid
    assert reader_rpc("Customers.cards.list", customer_id=cid) == [card]
    for method in ("Customers.cards.create", "Customers.cards.create_temp_card"):
        assert reader_rpc.error(method, customer_id=cid)["data"]["code"] == "FORBIDDEN"
