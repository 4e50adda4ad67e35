"""Text holding the NUL character (U+0000), which PostgreSQL's text and jsonb cannot store, is
invalid params naming the field, in every text parameter: never an internal error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.rpc.rpc_client import Rpc

NUL = "\u0000"


def _nul_fields(error: dict[str, Any]) -> set[str]:
    assert error["code"] == -32602, error
    assert error["data"]["code"] == "INVALID_PARAMS" and error["data"]["base_type"] == "ClientError"
    assert all(e["code"] == "INVALID_FORMAT" and "NUL" in e["message"] for e in error["data"]["errors"])
    return {e["field"] for e in error["data"]["errors"]}


@pytest.mark.parametrize(
    ("method", "params", "fields"),
    [
        ("Groups.create", {"name": f"a{NUL}b"}, {"name"}),
        (
            "Customers.create",
            {"customer": {"phone": "79161234567", "profile": {"first_name": f"I{NUL}van"}}},
            {"customer.profile.first_name"},
        ),
        (
            "Customers.create",
            {"customer": {"phone": f"7916{NUL}1234567", "meta": {f"k{NUL}": 1, "tags": ["a", f"b{NUL}"]}}},
            {"customer.phone", "customer.meta", "customer.meta.tags"},
        ),
        ("Customers.get_by_email", {"email": f"a{NUL}@example.com"}, {"email"}),
        ("Customers.get_by_phone", {"phone": f"79161234567{NUL}"}, {"phone"}),
        ("Customers.get_by_card", {"card_id": f"441{NUL}"}, {"card_id"}),
        ("Customers.find", {"query": f"Iv{NUL}an"}, {"query"}),
        (
            "Customers.find",
            {"filters": [{"field": "profile.city", "op": "eq", "value": f"Kaz{NUL}an"}]},
            {"filters.value"},
        ),
        ("Customers.settings.set", {"value": {"fields": [{"name": f"x{NUL}"}]}}, {"value.fields.name"}),
    ],
)
def test_nul_in_text_params_is_invalid_params(rpc: Rpc, method: str, params: dict[str, Any], fields: set[str]) -> None:
    assert _nul_fields(rpc.error(method, **params)) == fields


def test_nul_in_positional_params_and_updates(rpc: Rpc) -> None:
    created = rpc("Customers.create", customer={"phone": "79161234567"})
    assert _nul_fields(rpc.answer("Groups.create", [f"a{NUL}"])["error"]) == {"name"}
    assert _nul_fields(rpc.error("Customers.update", id=created["id"], customer={"email": f"x{NUL}@example.com"})) == {
        "customer.email"
    }
    assert _nul_fields(rpc.error("Customers.change_email", id=created["id"], email=f"x{NUL}@example.com")) == {"email"}
    assert _nul_fields(rpc.error("Customers.cards.add", customer_id=created["id"], card_id=f"4410000{NUL}")) == {
        "card_id"
    }
    # nothing was written by the refused calls
    assert rpc("Customers.get", id=created["id"]) == created
    assert rpc("Groups.list") == []
