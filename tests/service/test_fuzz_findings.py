"""What the schema fuzzing found on the groups, cards and jobs routes, pinned down: each answer
is a documented error naming the field, and nothing is written."""

from __future__ import annotations

import httpx
import pytest

TOO_BIG = 11191155801786376395713150976  # beyond PostgreSQL's bigint


def _fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "VALIDATION_FAILED"
    return {error["field"] for error in response.json()["errors"]}


def test_ids_beyond_bigint_are_field_errors(api: httpx.Client) -> None:
    group = api.post("/groups", json={"name": "vip"}).json()
    assert _fields(api.post(f"/groups/{TOO_BIG}/customers", json={"items": [1]})) == {"group_id"}
    assert _fields(api.post(f"/groups/{group['id']}/customers", json={"items": [TOO_BIG]})) == {"items"}
    assert _fields(api.post("/groups/memberships", json={"items": [{"id": TOO_BIG, "groups": [group["id"]]}]})) == {
        "items.id"
    }
    assert _fields(api.post("/groups/memberships/remove", json={"items": [{"id": 1, "groups": [-5]}]})) == {
        "items.groups"
    }
    assert _fields(api.get(f"/customers/{TOO_BIG}/cards")) == {"customer_id"}
    assert _fields(api.get(f"/jobs/runs/{TOO_BIG}")) == {"run_id"}
    assert api.get(f"/groups/{group['id']}/customers").json()["total"] == 0


@pytest.mark.parametrize(
    ("raw_meta", "field"),
    [
        # stored, then the answer could not render it (orjson: 64-bit integers): a 500 after the write
        (b'{"shelf": [1, 99999999999999999999999]}', "meta.shelf"),
        (b'{"shelf": {"low": -9223372036854775809}}', "meta.shelf.low"),
        # refused by the body checks before any route: jsonb cannot hold these
        (b'{"note": "a\\u0000b"}', "meta.note"),
        (b'{"note": {"x": "\\ud800"}}', "body"),
        (b'{"ratio": NaN}', "body"),
    ],
)
def test_group_meta_that_cannot_be_stored_or_answered(api: httpx.Client, raw_meta: bytes, field: str) -> None:
    group = api.post("/groups", json={"name": "vip", "meta": {"kept": True}}).json()
    headers = {"Content-Type": "application/json"}
    assert _fields(api.patch(f"/groups/{group['id']}", content=b'{"meta": ' + raw_meta + b"}", headers=headers)) == {
        field
    }
    assert _fields(api.post("/groups", content=b'{"name": "b", "meta": ' + raw_meta + b"}", headers=headers)) == {field}
    assert api.get(f"/groups/{group['id']}").json()["meta"] == {"kept": True}
    assert api.get("/groups").json()["total"] == 1


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/groups/memberships", "POST"),
        ("DELETE", "/groups/memberships/remove", "POST"),
        ("PUT", "/jobs/history", "GET, HEAD"),
    ],
)
def test_fixed_paths_are_not_taken_for_ids(api: httpx.Client, method: str, path: str, allow: str) -> None:
    response = api.request(method, path, json={})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow


def test_a_fixed_segment_where_a_run_id_goes_is_a_job_name(api: httpx.Client) -> None:
    response = api.get("/jobs/runs/history")
    assert response.status_code == 404
    assert response.json()["code"] == "JOB_NOT_FOUND"


def test_rpc_group_ids_beyond_bigint_are_refused(api: httpx.Client) -> None:
    # 2**63 still parses as an integer (a larger one arrives as a float: a type error)
    call = {
        "id": 1,
        "method": "Groups.customers.add_customer_groups",
        "params": {"items": [{"id": 2**63, "groups": [1]}]},
    }
    answer = api.post("/public/rpc", json=call)
    assert answer.status_code == 200
    assert answer.json()["error"]["data"]["code"] == "INVALID_PARAMS"
    assert answer.json()["error"]["data"]["errors"][0]["field"] == "items.id"


def test_rpc_group_meta_that_cannot_be_stored_is_refused(api: httpx.Client) -> None:
    # JSON-RPC reads its body itself: a NUL is invalid params (the store checks meta as well)
    call = {"id": 1, "method": "Groups.create", "params": {"name": "vip", "meta": {"note": "a\u0000b"}}}
    answer = api.post("/public/rpc", json=call).json()
    assert answer["error"]["code"] == -32602 and answer["error"]["data"]["code"] == "INVALID_PARAMS", answer
    assert answer["error"]["data"]["errors"][0]["field"] == "meta.note"
    assert api.get("/groups").json()["total"] == 0
