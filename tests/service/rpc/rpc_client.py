"""A JSON-RPC client of the live service, speaking like the original service's clients."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

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
