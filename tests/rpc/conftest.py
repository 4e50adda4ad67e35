"""A JSON-RPC client of the live service, speaking like the original service's clients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers import ADMIN_TOKEN, READER_TOKEN

PATH = "/public/rpc"


class Rpc:
    """Posts relaxed JSON-RPC bodies (`id` 0, no `jsonrpc`, no content type) and unwraps answers."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.client.post(PATH, content=content, headers=headers or {})

    def answer(self, method: str, params: dict[str, Any] | list[Any] | None = None, **headers: str) -> dict[str, Any]:
        """The whole answer object of one call (HTTP 200 asserted)."""
        response = self.post({"id": 0, "method": method, "params": {} if params is None else params}, headers)
        assert response.status_code == 200, response.text
        return response.json()

    def __call__(self, method: str, **params: Any) -> Any:
        """The result of a call that must succeed."""
        body = self.answer(method, params)
        assert set(body) == {"id", "result"}, body
        assert body["id"] == 0
        return body["result"]

    def error(self, method: str, **params: Any) -> dict[str, Any]:
        """The error object of a call that must fail; checks the members every error has."""
        body = self.answer(method, params)
        assert set(body) == {"id", "error"}, body
        return checked_error(body["error"])


def checked_error(error: dict[str, Any]) -> dict[str, Any]:
    assert set(error) == {"code", "message", "data"}, error
    assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"]
    assert isinstance(error["data"], dict)
    assert {"code", "type", "base_type"} <= set(error["data"]), error
    assert error["data"]["base_type"] in ("ClientError", "InternalError")
    return error


@pytest.fixture
def rpc(api: httpx.Client) -> Rpc:
    """An admin RPC client on an empty database."""
    return Rpc(api)


@pytest.fixture
def reader_rpc(live: Any, clean_db: None) -> Iterator[Rpc]:
    """A reader-role RPC client on an empty database."""
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {READER_TOKEN}"}, timeout=30) as client:
        yield Rpc(client)


@pytest.fixture(scope="module")
def rpc_search_live(search_settings: Any) -> Iterator[Any]:
    """The live service with search on (Redis with the search module from the root fixtures).

    Module-scoped: its write-path listener is process-global (`store.on_change`) and must not
    outlive the tests that need it, or writes served by the other live servers would call it."""
    from cli.app import create_app
    from tests.conftest import start_server

    server = start_server(create_app(search_settings))
    yield server
    server.stop()


@pytest.fixture
def search_rpc(rpc_search_live: Any, search_settings: Any, clean_db: None) -> Iterator[Rpc]:
    """An admin RPC client of the service with search on; database and Redis empty."""
    import redis

    flushed = redis.Redis(
        host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=2
    )
    flushed.flushdb()
    flushed.close()
    with httpx.Client(
        base_url=rpc_search_live.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
    ) as client:
        yield Rpc(client)
