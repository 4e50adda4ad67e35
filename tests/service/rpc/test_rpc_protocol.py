"""The wire format of /public/rpc: relaxed and standard requests, batches, notifications, errors,
headers. Every test goes over HTTP to the live service and a real PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import orjson
import psycopg
import pytest

from tests.factories import add_customer
from tests.service.rpc.rpc_client import PATH, Rpc, checked_error


def test_relaxed_call_answers_id_and_result_only(rpc: Rpc) -> None:
    created = rpc("Customers.create", customer={"phone": "79123456789"})
    response = rpc.post({"id": 0, "method": "Customers.get", "params": {"id": created["id"]}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": 0, "result": created}


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "application/json", "text/plain"])
def test_body_is_json_whatever_the_content_type(rpc: Rpc, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = orjson.dumps({"id": 0, "method": "Customers.create", "params": {"customer": {"phone": "89001234567"}}})
    response = rpc.client.post(PATH, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["result"]["phone"] == "79001234567"


def test_standard_json_rpc_2_request(rpc: Rpc) -> None:
    response = rpc.post(
        {"jsonrpc": "2.0", "id": "abc-1", "method": "Customers.get_by_phone", "params": {"phone": "79990001122"}}
    )
    assert response.json() == {"jsonrpc": "2.0", "id": "abc-1", "result": None}
    created = rpc("Customers.create", customer={"phone": "79123456789"})
    positional = rpc.post({"jsonrpc": "2.0", "id": 7, "method": "Customers.get", "params": [created["id"]]})
    assert positional.json() == {"jsonrpc": "2.0", "id": 7, "result": created}


def test_notification_is_run_and_answered_with_an_empty_200(rpc: Rpc) -> None:
    relaxed = rpc.post({"id": None, "method": "Customers.create", "params": {"customer": {"phone": "79001112233"}}})
    assert relaxed.status_code == 200 and relaxed.content == b""
    standard = rpc.post(
        {"jsonrpc": "2.0", "method": "Customers.create", "params": {"customer": {"phone": "79001112244"}}}
    )
    assert standard.status_code == 200 and standard.content == b""
    # a failing notification is not answered either
    failing = rpc.post({"id": None, "method": "Customers.create", "params": {"customer": {"phone": "79001112233"}}})
    assert failing.status_code == 200 and failing.content == b""
    assert rpc("Customers.get_by_phone", phone="79001112233")["phone"] == "79001112233"
    assert rpc("Customers.get_by_phone", phone="79001112244")["phone"] == "79001112244"


def test_batch_answers_in_order_without_notifications(rpc: Rpc) -> None:
    batch = [
        {"id": 0, "method": "Customers.create", "params": {"customer": {"phone": "79001000001"}}},
        {"id": None, "method": "Customers.create", "params": {"customer": {"phone": "79001000002"}}},
        {"id": 0, "method": "Customers.get_by_phone", "params": {"phone": "79001000002"}},
        {"id": 0, "method": "Customers.create", "params": {"customer": {"phone": "79001000001"}}},
        {"jsonrpc": "2.0", "id": 5, "method": "No.such", "params": {}},
        42,
    ]
    response = rpc.post(batch)
    assert response.status_code == 200
    answers = response.json()
    assert len(answers) == 5
    assert answers[0]["result"]["phone"] == "79001000001"
    assert answers[1]["result"]["phone"] == "79001000002"  # the notification ran before it
    assert checked_error(answers[2]["error"])["data"]["code"] == "PHONE_EXISTS"
    assert answers[3]["id"] == 5 and answers[3]["jsonrpc"] == "2.0"
    assert checked_error(answers[3]["error"])["code"] == -32601
    assert answers[4]["id"] is None and checked_error(answers[4]["error"])["code"] == -32600


def test_batch_of_notifications_only_and_empty_batch(rpc: Rpc) -> None:
    only = rpc.post([{"id": None, "method": "Customers.create", "params": {"customer": {"phone": "79001000003"}}}])
    assert only.status_code == 200 and only.content == b""
    assert rpc("Customers.get_by_phone", phone="79001000003") is not None
    empty = rpc.post([])
    assert empty.status_code == 200
    assert empty.json()["id"] is None and checked_error(empty.json()["error"])["code"] == -32600
    huge = rpc.post(
        [{"id": None, "method": "Customers.create", "params": {"customer": {"phone": "79001000004"}}}] * 1001
    )
    assert checked_error(huge.json()["error"])["code"] == -32600 and "1000" in huge.json()["error"]["message"]
    assert rpc("Customers.get_by_phone", phone="79001000004") is None  # refused as a whole


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"id": 0,}', b"\xff\xfe", b""])
def test_malformed_json_is_a_parse_error(rpc: Rpc, body: bytes) -> None:
    response = rpc.post(body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["id"] is None
    error = checked_error(answer["error"])
    assert error["code"] == -32700
    assert error["data"] == {"code": "PARSE_ERROR", "type": "JSONParseError", "base_type": "ClientError"}


@pytest.mark.parametrize(
    "body",
    [
        {"id": 0, "params": {}},
        {"id": 0, "method": 12},
        {"id": 0, "method": "Customers.get", "params": "id=1"},
        {"jsonrpc": "1.0", "id": 0, "method": "Customers.get", "params": {"id": 1}},
        {"id": {"x": 1}, "method": "Customers.get", "params": {"id": 1}},
        "Customers.get",
    ],
)
def test_invalid_request(rpc: Rpc, body: object) -> None:
    response = rpc.post(body)
    assert response.status_code == 200
    error = checked_error(response.json()["error"])
    assert error["code"] == -32600
    assert error["data"]["type"] == "InvalidRequest" and error["data"]["base_type"] == "ClientError"


def test_unknown_method(rpc: Rpc) -> None:
    error = rpc.error("Customers.fly", id=1)
    assert error["code"] == -32601
    assert error["data"] == {
        "code": "METHOD_NOT_FOUND",
        "method": "Customers.fly",
        "type": "MethodNotFound",
        "base_type": "ClientError",
    }


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({}, "id", "MISSING"),
        ({"id": None}, "id", "MISSING"),
        ({"id": "abc"}, "id", "TYPE_MISMATCH"),
        ({"id": 1.5}, "id", "TYPE_MISMATCH"),
        ({"id": 1, "force": True}, "force", "UNKNOWN_FIELD"),
    ],
)
def test_bad_params(rpc: Rpc, params: dict, field: str, code: str) -> None:
    error = rpc.error("Customers.block", **params)
    assert error["code"] == -32602
    assert error["data"]["type"] == "InvalidParams" and error["data"]["base_type"] == "ClientError"
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in error["data"]["errors"]]


def test_too_many_positional_params(rpc: Rpc) -> None:
    answer = rpc.answer("Customers.get", [1, 2])
    assert checked_error(answer["error"])["code"] == -32602


def test_type_tags_and_nulls_are_not_given(rpc: Rpc) -> None:
    """The original clients send every field of their models, unset ones as null, with `_type`."""
    customer = {
        "_type": "CustomerCreate",
        "phone": "+7 912 345-67-89",
        "source_id": None,
        "email": None,
        "email_confirmed": None,
        "profile": {"first_name": "Анна", "city": None},
        "meta": None,
        "subscriptions": None,
        "loyalty_enabled": None,
        "accept_tender_offer": None,
        "created": None,
        "prioritize_sms_verification": None,
    }
    created = rpc("Customers.create", customer=customer)
    assert created["profile"] == {"first_name": "Анна"}
    # a null takes the create default
    assert created["loyalty_enabled"] is False and created["accept_tender_offer"] is True
    assert created["meta"] == {} and created["email"] is None
    assert len(created["created"]) == 10  # YYYY-MM-DD

    update = {
        "_type": "CustomerUpdate",
        "source_id": None,
        "profile": {"_type": "Profile", "city": "Казань", "first_name": None},
        "meta": None,
        "subscriptions": None,
        "loyalty_enabled": True,
        "accept_tender_offer": None,
        "prioritize_sms_verification": None,
        "created": None,
    }
    updated = rpc("Customers.update", id=created["id"], customer=update)
    assert updated["profile"] == {"first_name": "Анна", "city": "Казань"}  # a null is not a removal
    assert updated["loyalty_enabled"] is True and updated["accept_tender_offer"] is True


def test_error_object_shape_for_service_errors(rpc: Rpc, conninfo: str) -> None:
    first = add_customer(conninfo, phone="79123456789", email="a@example.com")
    conflict = rpc.error("Customers.create", customer={"phone": first["phone"]})
    assert conflict["code"] == 409
    assert conflict["data"] == {"code": "PHONE_EXISTS", "type": "Conflict", "base_type": "ClientError"}
    email = rpc.error("Customers.create", customer={"phone": "79000000001", "email": "A@example.com"})
    assert email["code"] == 409 and email["data"]["code"] == "EMAIL_EXISTS"
    missing = rpc.error("Customers.block", id=first["id"] + 1000)
    assert missing["code"] == 404
    assert missing["data"] == {"code": "CUSTOMER_NOT_FOUND", "type": "NotFound", "base_type": "ClientError"}
    invalid = rpc.error("Customers.create", customer={"phone": "12", "profile": {"children_count": 99}})
    assert invalid["code"] == -32702
    assert invalid["data"]["type"] == "ModelValidationError" and invalid["data"]["base_type"] == "ClientError"
    assert invalid["data"]["code"] == "VALIDATION_FAILED"
    assert {(e["field"], e["code"]) for e in invalid["data"]["errors"]} == {
        ("phone", "INVALID_FORMAT"),
        ("profile.children_count", "NUMBER_CONSTRAINT"),
    }


def test_unexpected_error_is_internal_without_a_trace(
    rpc: Rpc, conninfo: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A database error the service gives no meaning to: a trigger left in the database refuses
    # every new group. (A NUL character in a name served here before; it is invalid params now.)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION test_refuse_groups() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'secret detail of the refusal'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_refuse_groups BEFORE INSERT ON customer_groups "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_groups()"
        )
    caplog.set_level(logging.ERROR, logger="customers.rpc")
    try:
        response = rpc.post({"id": 0, "method": "Groups.create", "params": {"name": "g"}})
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("DROP TRIGGER test_refuse_groups ON customer_groups")
            conn.execute("DROP FUNCTION test_refuse_groups()")
    assert response.status_code == 200
    assert response.json()["error"] == {
        "code": -32603,
        "message": "Internal error",
        "data": {"code": "INTERNAL_ERROR", "type": "InternalError", "base_type": "InternalError"},
    }
    assert b"secret detail" not in response.content
    assert any("Groups.create failed" in r.getMessage() and r.exc_info for r in caplog.records)
    assert rpc("Groups.list") == []


def test_auth_header_and_roles(live: object, rpc: Rpc, reader_rpc: Rpc) -> None:
    url = live.url  # type: ignore[attr-defined]
    body = orjson.dumps({"id": 0, "method": "Customers.get", "params": {"id": 1}})
    for headers in ({}, {"Authorization": "Bearer not-a-valid-token-at-all"}, {"Authorization": "Basic x"}):
        response = httpx.post(url + PATH, content=body, headers=headers)
        assert response.status_code == 401
        error = checked_error(response.json()["error"])
        assert response.json()["id"] == 0
        assert error["data"] == {"code": "UNAUTHORIZED", "type": "Unauthorized", "base_type": "ClientError"}

    created = rpc("Customers.create", customer={"phone": "79123456789"})
    assert reader_rpc("Customers.get", id=created["id"]) == created
    assert reader_rpc("Groups.list") == []
    forbidden = reader_rpc.error("Customers.block", id=created["id"])
    # as the original answered a method beyond the caller's permission (its clients: PermissionDenied)
    assert forbidden["code"] == -32601
    assert forbidden["data"] == {"code": "FORBIDDEN", "type": "MethodNotFound", "base_type": "ClientError"}
    assert rpc("Customers.get", id=created["id"])["blocked"] is False


def test_correlation_id_is_echoed_and_logged(rpc: Rpc, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="customers.rpc")
    response = rpc.post({"id": 0, "method": "Customers.get", "params": {"id": 1}}, {"Correlation-Id": "till-42/7f3a"})
    assert response.headers["correlation-id"] == "till-42/7f3a"
    assert response.json() == {"id": 0, "result": None}
    assert any("till-42/7f3a" in r.getMessage() and "Customers.get" in r.getMessage() for r in caplog.records)
    assert any(getattr(r, "correlation_id", None) == "till-42/7f3a" for r in caplog.records)
    errors = rpc.post(b"{", {"Correlation-Id": "c-2"})
    assert errors.headers["correlation-id"] == "c-2"
    assert "correlation-id" not in {k.lower() for k in rpc.post({"id": 0, "method": "Groups.list"}).headers}


def test_timeout_header_bounds_the_call(rpc: Rpc, conninfo: str) -> None:
    created = add_customer(conninfo, loyalty_enabled=True)
    locked = threading.Event()
    release = threading.Event()

    def hold_row_lock() -> None:
        with psycopg.connect(conninfo) as conn:
            conn.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", (created["id"],))
            locked.set()
            release.wait(20)

    holder = threading.Thread(target=hold_row_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        answer = rpc.answer(
            "Customers.update", {"id": created["id"], "customer": {"loyalty_enabled": False}}, Timeout="0.5"
        )
        elapsed = time.monotonic() - started
        error = checked_error(answer["error"])
        assert error["code"] == -32002
        assert error["data"] == {"code": "TIMEOUT", "type": "RequestTimeout", "base_type": "ClientError"}
        assert 0.4 < elapsed < 5
    finally:
        release.set()
        holder.join(10)
    # the cancelled update left nothing behind, and the service keeps working
    assert rpc("Customers.get", id=created["id"])["loyalty_enabled"] is True
    assert rpc.answer("Customers.block", {"id": created["id"]}, Timeout="5") == {"id": 0, "result": None}
    assert rpc("Customers.get", id=created["id"])["blocked"] is True


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf"])
def test_bad_timeout_header_is_an_invalid_request(rpc: Rpc, value: str) -> None:
    answer = rpc.answer("Groups.list", {}, Timeout=value)
    error = checked_error(answer["error"])
    assert error["code"] == -32600 and "Timeout" in error["message"]


def test_endpoint_is_in_the_openapi_document(rpc: Rpc) -> None:
    schema = rpc.client.get("/openapi.json").json()
    post = schema["paths"][PATH]["post"]
    assert "application/octet-stream" in post["requestBody"]["content"]
    assert "Groups.customers.add_customer_groups" in post["description"]
    for path in (
        "/groups",
        "/groups/{group_id}/customers",
        "/customers/{customer_id}/cards",
        "/customers/by-card/{card_id}",
    ):
        assert path in schema["paths"], path
