"""Bearer tokens and roles."""

from __future__ import annotations

import httpx
import pytest

from cli.app import create_app
from customers.config import Settings
from tests.conftest import client_for, start_server
from tests.factories import add_customer
from tests.helpers import ADMIN_TOKEN


@pytest.fixture
def customer_id(conninfo: str, clean_db: None) -> int:
    return add_customer(conninfo, phone="79120000100")["id"]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer  x y",
        "Basic dXNlcjpwYXNz",
        f"Token {ADMIN_TOKEN}",
        "Bearer wrong-token-wrong-token",
        f"Bearer {ADMIN_TOKEN}x",
    ],
)
def test_missing_or_bad_token_is_401(live, customer_id: int, header: str | None) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": header} if header is not None else {}
    with httpx.Client(base_url=live.url, headers=headers) as client:
        for method, path in (("GET", f"/customers/{customer_id}"), ("POST", "/customers"), ("GET", "/settings")):
            response = client.request(method, path, json={"phone": "79120000101"} if method == "POST" else None)
            assert response.status_code == 401
            assert response.json()["code"] == "UNAUTHORIZED"
            assert response.headers["www-authenticate"] == "Bearer"


def test_reader_reads_but_does_not_write(reader_api: httpx.Client, customer_id: int) -> None:
    assert reader_api.get(f"/customers/{customer_id}").status_code == 200
    assert reader_api.get("/customers/by-phone/79120000100").status_code == 200
    for method, path, body in (
        ("POST", "/customers", {"phone": "79120000102"}),
        ("PATCH", f"/customers/{customer_id}", {"loyalty_enabled": False}),
        ("DELETE", f"/customers/{customer_id}", None),
        ("POST", f"/customers/{customer_id}/block", None),
        ("PUT", f"/customers/{customer_id}/phone", {"phone": "79120000103"}),
    ):
        response = reader_api.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert response.json()["code"] == "FORBIDDEN"
    assert reader_api.get(f"/customers/{customer_id}").json()["blocked"] is False


def test_health_and_openapi_need_no_token(live) -> None:  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=live.url) as client:
        assert client.get("/health").json()["database"]["ok"] is True
        paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/customers",
        "/customers/{customer_id}",
        "/customers/by-phone/{phone}",
        "/customers/by-email/{email}",
        "/customers/{customer_id}/block",
        "/customers/{customer_id}/unblock",
        "/customers/{customer_id}/phone",
        "/customers/{customer_id}/email",
        "/customers/{customer_id}/email/activate",
        "/settings",
        "/settings/reset",
        "/health",
    ):
        assert path in paths


def test_without_tokens_everything_is_open(settings: Settings, clean_db: None) -> None:
    """Open mode (no tokens) is for loopback only; `customers serve` enforces that."""
    from pydantic import SecretStr

    server = start_server(create_app(settings.model_copy(update={"auth_tokens": SecretStr("")})))
    try:
        with client_for(server.url, None) as client:
            assert client.post("/customers", json={"phone": "79120000104"}).status_code == 201
    finally:
        server.stop()
