"""Groups over REST: /groups, memberships, a customer's groups."""

from __future__ import annotations

import httpx

from tests.factories import add_customer
from tests.service.rpc.rpc_client import Rpc


def test_groups_over_rest(api: httpx.Client, conninfo: str) -> None:
    rpc = Rpc(api)  # the same resource over JSON-RPC, for comparison
    created = api.post("/groups", json={"name": "VIP", "meta": {"tier": 1}})
    assert created.status_code == 201
    group = created.json()
    assert group == rpc("Groups.list")[0]
    assert api.get(f"/groups/{group['id']}").json() == group
    assert api.patch(f"/groups/{group['id']}", json={"meta": {"tier": 2}}).json()["meta"] == {"tier": 2}
    page = api.get("/groups", params={"limit": 10}).json()
    assert page["total"] == 1 and page["items"][0]["meta"] == {"tier": 2}

    cid = add_customer(conninfo)["id"]
    assert api.post(f"/groups/{group['id']}/customers", json={"items": [cid]}).json() == {"count": 1}
    members = api.get(f"/groups/{group['id']}/customers").json()
    assert members["total"] == 1 and members["items"][0]["id"] == cid
    assert api.get(f"/customers/{cid}/groups").json()["items"][0]["id"] == group["id"]
    assert api.post(f"/groups/{group['id']}/customers/remove", json={"items": [cid]}).json() == {"count": 1}
    assert api.post("/groups/memberships", json={"items": [{"id": cid, "groups": [group["id"]]}]}).json() == {
        "count": 1
    }
    assert api.post("/groups/memberships/remove", json={"items": [{"id": cid, "groups": [group["id"]]}]}).json() == {
        "count": 1
    }

    missing = api.post(f"/groups/{group['id']}/customers", json={"items": [cid, 424242]})
    assert missing.status_code == 404 and missing.json()["code"] == "CUSTOMER_NOT_FOUND"
    assert api.get("/customers/424242/groups").status_code == 404
    assert api.post("/groups", json={"name": ""}).status_code == 422
    assert api.delete(f"/groups/{group['id']}").status_code == 204
    gone = api.get(f"/groups/{group['id']}")
    assert gone.status_code == 404 and gone.json()["code"] == "GROUP_NOT_FOUND"
