"""Cards and login codes over REST: /customers/{id}/cards, /customers/by-card, login codes."""

from __future__ import annotations

import httpx

from tests.factories import add_customer
from tests.service.rpc.rpc_client import Rpc


def test_cards_over_rest(api: httpx.Client, conninfo: str) -> None:
    rpc = Rpc(api)  # the same resource over JSON-RPC, for comparison
    cid = add_customer(conninfo)["id"]
    created = api.post(f"/customers/{cid}/cards", json={"card_type": "GOOGLE"})
    assert created.status_code == 201 and created.json()["id"].startswith("3")
    physical = api.put(f"/customers/{cid}/cards/4410000077777")
    assert physical.status_code == 201 and physical.json()["type"] == "PHYSICAL"
    wrong = api.put(f"/customers/{cid}/cards/12345")
    assert wrong.status_code == 422 and wrong.json()["code"] == "INVALID_CARD_FMT"
    assert api.put(f"/customers/{cid}/cards/4410000077777").json()["code"] == "CARD_EXISTS"
    assert api.post(f"/customers/{cid}/cards", json={"card_type": "PHYSICAL"}).status_code == 422
    assert api.post(f"/customers/{cid}/cards").json()["type"] == "VIRTUAL"

    listed = api.get(f"/customers/{cid}/cards").json()["items"]
    assert listed == rpc("Customers.cards.list", customer_id=cid)
    assert api.get(f"/customers/by-card/{physical.json()['id']}").json()["id"] == cid
    off = api.post(f"/customers/{cid}/cards/4410000077777/deactivate")
    assert off.status_code == 200 and off.json()["enabled"] is False
    missing = api.get("/customers/by-card/4410000077777")
    assert missing.status_code == 404 and missing.json()["code"] == "CUSTOMER_NOT_FOUND"

    code = api.post(f"/customers/{cid}/login-codes")
    assert code.status_code == 201 and set(code.json()) == {"value", "expires_after"}
    assert api.get(f"/customers/by-card/{code.json()['value']}").json()["id"] == cid
    assert api.post("/customers/999999/login-codes").status_code == 404
