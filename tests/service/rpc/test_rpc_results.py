"""The result of every method as the original service answers it: the types its published client
converts strictly (docs/rpc.md lists them). Raw answers, checked whole; the search index methods,
which need search on, are in test_rpc_search.py (run on both RediSearch generations)."""

from __future__ import annotations

from typing import Any

from tests.service.rpc.rpc_client import Rpc

CUSTOMER_KEYS = {
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
    "updated_at",
}
CARD_KEYS = {"created", "customer_id", "type", "id", "enabled"}
LOGIN_CODE_KEYS = {"value", "expires_after"}
GROUP_KEYS = {"created", "id", "name", "meta"}


def _result(rpc: Rpc, method: str, **params: Any) -> Any:
    answer = rpc.answer(method, params)
    assert set(answer) == {"id", "result"} and answer["id"] == 0, answer
    return answer["result"]


def test_customer_methods(rpc: Rpc) -> None:
    created = _result(rpc, "Customers.create", customer={"phone": "79123456789", "email": "a@example.com"})
    assert set(created) == CUSTOMER_KEYS
    cid = created["id"]
    for method, params in (
        ("Customers.get", {"id": cid}),
        ("Customers.get_by_phone", {"phone": "79123456789"}),
        ("Customers.get_by_email", {"email": "a@example.com"}),
    ):
        assert _result(rpc, method, **params) == created
    updated = _result(rpc, "Customers.update", id=cid, customer={"profile": {"city": "Омск"}})
    assert set(updated) == CUSTOMER_KEYS and updated["profile"] == {"city": "Омск"}

    assert _result(rpc, "Customers.block", id=cid) is None
    assert _result(rpc, "Customers.unblock", id=cid) is None
    assert _result(rpc, "Customers.change_phone", id=cid, phone="79123456780") is True
    assert _result(rpc, "Customers.change_email", id=cid, email="b@example.com") is True
    assert _result(rpc, "Customers.activate_email", id=cid) is True

    page = _result(rpc, "Customers.find", query="", filters=None, offset=0, limit=100, sort_order="asc")
    assert page == [_result(rpc, "Customers.get", id=cid)]

    assert _result(rpc, "Customers.delete", id=cid) is None
    assert _result(rpc, "Customers.get", id=cid) is None


def test_card_methods(rpc: Rpc) -> None:
    cid = _result(rpc, "Customers.create", customer={"phone": "79123456789"})["id"]
    card = _result(rpc, "Customers.cards.create", customer_id=cid, card_type="VIRTUAL")
    physical = _result(rpc, "Customers.cards.add", customer_id=cid, card_id="4410000012345")
    assert set(card) == set(physical) == CARD_KEYS
    listed = _result(rpc, "Customers.cards.list", customer_id=cid)
    assert sorted(listed, key=lambda c: c["id"]) == sorted([card, physical], key=lambda c: c["id"])
    assert _result(rpc, "Customers.cards.deactivate", customer_id=cid, card_id=card["id"]) is True
    code = _result(rpc, "Customers.cards.create_temp_card", customer_id=cid)
    assert set(code) == LOGIN_CODE_KEYS
    assert _result(rpc, "Customers.get_by_card", card_id=code["value"])["id"] == cid


def test_group_methods(rpc: Rpc) -> None:
    customers = [_result(rpc, "Customers.create", customer={"phone": f"7912345678{i}"})["id"] for i in range(3)]
    group = _result(rpc, "Groups.create", name="VIP", meta={"discount": 5})
    other = _result(rpc, "Groups.create", name="Staff")
    assert set(group) == set(other) == GROUP_KEYS
    assert _result(rpc, "Groups.update", id=group["id"], meta={}) == {**group, "meta": {}}
    assert _result(rpc, "Groups.list", offset=0, limit=100) == [{**group, "meta": {}}, other]
    assert _result(rpc, "Groups.customers.add", id=group["id"], items=customers) == 3
    assert _result(rpc, "Groups.customers.list", id=group["id"], offset=0, limit=10000) == customers
    items = [{"id": customers[0], "groups": [other["id"]]}]
    assert _result(rpc, "Groups.customers.add_customer_groups", items=items) == 1
    assert _result(rpc, "Groups.customer.get_groups", customer_id=customers[0]) == [group["id"], other["id"]]
    assert _result(rpc, "Groups.customer.get_groups", customer_id=999999) is None
    assert _result(rpc, "Groups.customers.remove_customer_groups", items=items) == 1
    assert _result(rpc, "Groups.customers.remove", id=group["id"], items=customers[:1]) == 1
    assert _result(rpc, "Groups.delete", id=group["id"]) is True
    assert _result(rpc, "Groups.customer.get_groups", customer_id=customers[1]) == []
