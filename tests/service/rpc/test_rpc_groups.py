"""Groups.* over /public/rpc (REST: tests/service)."""

from __future__ import annotations

from tests.factories import add_customer
from tests.service.rpc.rpc_client import Rpc

GROUP_KEYS = {"created", "id", "name", "meta"}


def test_group_lifecycle(rpc: Rpc) -> None:
    plain = rpc("Groups.create", name="VIP", meta=None)
    assert set(plain) == GROUP_KEYS and plain["meta"] == {} and len(plain["created"]) == 10
    tagged = rpc("Groups.create", name="  Сотрудники  ", meta={"discount": 10, "note": None})
    assert tagged["name"] == "Сотрудники" and tagged["meta"] == {"discount": 10}

    updated = rpc("Groups.update", id=tagged["id"], meta={"discount": 15})
    assert updated == {**tagged, "meta": {"discount": 15}}
    assert rpc("Groups.update", id=plain["id"], meta={})["meta"] == {}

    third = rpc("Groups.create", name="Новые", meta={})
    assert rpc("Groups.list", offset=None, limit=None) == [plain, updated, third]
    assert rpc("Groups.list", offset=1, limit=1) == [updated]
    assert rpc("Groups.list", offset=5, limit=10) == []

    assert rpc("Groups.delete", id=plain["id"]) is True
    assert [g["id"] for g in rpc("Groups.list")] == [tagged["id"], third["id"]]


def test_the_published_clients_groups_delete_call_deletes_nothing(rpc: Rpc) -> None:
    """`groups_delete(id)` of the published client sends `Groups.update` with the id alone: it is
    answered as any call missing a required parameter, and the group stays. The working call is
    `Groups.delete` (docs/rpc.md)."""
    group = rpc("Groups.create", name="VIP")
    error = rpc.error("Groups.update", id=group["id"])
    assert (error["code"], error["data"]["type"]) == (-32602, "InvalidParams")
    assert [(e["field"], e["code"]) for e in error["data"]["errors"]] == [("meta", "MISSING")]
    assert rpc("Groups.list") == [group]
    assert rpc("Groups.delete", id=group["id"]) is True
    assert rpc("Groups.list") == []


def test_group_errors(rpc: Rpc) -> None:
    for method, params in (
        ("Groups.update", {"id": 999, "meta": {}}),
        ("Groups.delete", {"id": 999}),
        ("Groups.customers.add", {"id": 999, "items": []}),
        ("Groups.customers.remove", {"id": 999, "items": [1]}),
        ("Groups.customers.list", {"id": 999}),
    ):
        error = rpc.error(method, **params)
        assert (error["code"], error["data"]["code"], error["data"]["type"]) == (404, "GROUP_NOT_FOUND", "NotFound"), (
            method
        )
    empty = rpc.error("Groups.create", name="   ")
    assert empty["code"] == -32702 and empty["data"]["errors"][0]["field"] == "name"
    assert rpc.error("Groups.create", name="x", meta=[1])["code"] == -32602
    assert rpc.error("Groups.list", limit=0)["code"] == -32602
    assert rpc.error("Groups.list", offset=-1)["code"] == -32602
    assert rpc.error("Groups.update", id=1)["code"] == -32602  # meta is required
    assert rpc("Groups.list") == []


def test_membership_by_group(rpc: Rpc, conninfo: str) -> None:
    group = rpc("Groups.create", name="VIP")
    ids = [add_customer(conninfo, phone=f"7900000000{i}")["id"] for i in range(4)]
    assert rpc("Groups.customers.add", id=group["id"], items=ids[:3]) == 3
    assert rpc("Groups.customers.add", id=group["id"], items=[ids[0], ids[3], ids[3]]) == 1  # only new ones count
    # the original's answers: customer ids and group ids, not records
    assert rpc("Groups.customers.list", id=group["id"], offset=None, limit=None) == ids
    assert rpc("Groups.customers.list", id=group["id"], offset=1, limit=2) == ids[1:3]
    assert rpc("Groups.customers.list", id=group["id"], offset=4) == []
    # pages of ids take up to 10 000 (the published client asks for that many by default)
    assert rpc("Groups.customers.list", id=group["id"], offset=0, limit=10_000) == ids
    too_many = rpc.error("Groups.customers.list", id=group["id"], limit=10_001)
    assert too_many["code"] == -32602 and too_many["data"]["errors"][0]["field"] == "limit"

    assert rpc("Groups.customers.remove", id=group["id"], items=[ids[1], ids[1], 999999]) == 1
    assert rpc("Groups.customers.list", id=group["id"]) == [ids[0], ids[2], ids[3]]
    assert rpc("Groups.customer.get_groups", customer_id=ids[1]) == []
    assert rpc("Groups.customer.get_groups", customer_id=ids[0]) == [group["id"]]


def test_membership_is_all_or_nothing(rpc: Rpc, conninfo: str) -> None:
    group = rpc("Groups.create", name="VIP")
    cid = add_customer(conninfo)["id"]
    error = rpc.error("Groups.customers.add", id=group["id"], items=[cid, 999998, 999999])
    assert (error["code"], error["data"]["code"]) == (404, "CUSTOMER_NOT_FOUND")
    assert error["data"]["ids"] == [999998, 999999] and "999998" in error["message"]
    assert rpc("Groups.customers.list", id=group["id"]) == []

    missing_group = rpc.error("Groups.customers.add_customer_groups", items=[{"id": cid, "groups": [group["id"], 777]}])
    assert (missing_group["code"], missing_group["data"]["code"], missing_group["data"]["ids"]) == (
        404,
        "GROUP_NOT_FOUND",
        [777],
    )
    assert rpc("Groups.customer.get_groups", customer_id=cid) == []


def test_membership_by_customer(rpc: Rpc, conninfo: str) -> None:
    vip, staff, new = (rpc("Groups.create", name=n) for n in ("VIP", "Staff", "New"))
    a = add_customer(conninfo, phone="79000000001")["id"]
    b = add_customer(conninfo, phone="79000000002")["id"]
    items = [
        {"_type": "CustomerGroups", "id": a, "groups": [vip["id"], staff["id"]]},
        {"id": b, "groups": [staff["id"]]},
    ]
    assert rpc("Groups.customers.add_customer_groups", items=items) == 3
    assert rpc("Groups.customers.add_customer_groups", items=[*items, {"id": b, "groups": [new["id"]]}]) == 1
    assert rpc("Groups.customer.get_groups", customer_id=a) == [vip["id"], staff["id"]]
    assert rpc("Groups.customers.list", id=staff["id"]) == [a, b]

    assert rpc("Groups.customers.remove_customer_groups", items=[{"id": a, "groups": [staff["id"], new["id"]]}]) == 1
    assert rpc("Groups.customer.get_groups", customer_id=a) == [vip["id"]]
    assert rpc("Groups.customers.add_customer_groups", items=[]) == 0
    bad = rpc.error("Groups.customers.add_customer_groups", items=[{"id": a}])
    assert bad["code"] == -32602 and bad["data"]["errors"][0]["field"] == "items.groups"

    # deleting a group or a customer ends their memberships
    assert rpc("Groups.delete", id=vip["id"]) is True
    assert rpc("Groups.customer.get_groups", customer_id=a) == []
    assert rpc("Customers.delete", id=b) is None
    assert rpc("Groups.customers.list", id=new["id"]) == []
