"""The HTTP endpoint, `POST /public/rpc`: reads the body, checks the caller and the Timeout,
hands the payload to dispatch; and its OpenAPI document."""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from service import deps
from service.responses import JSONResponse
from service.rpc.dispatch import Dispatch, timeout_seconds, valid_id
from service.rpc.methods import METHODS
from service.rpc.protocol import InvalidRequest, ParseError, error_object

router = APIRouter(tags=["rpc"])

PATH = "/public/rpc"


def _json(body: Any, status_code: int, headers: dict[str, str]) -> Response:
    if body is None:
        return Response(status_code=status_code, headers=headers)
    return JSONResponse(body, status_code=status_code, headers=headers)


def _method_table() -> str:
    rows = "\n".join(f"| `{m.name}({', '.join(m.order)})` | {m.role} | {m.summary} |" for m in METHODS)
    return "| method | role | what it does |\n|---|---|---|\n" + rows


class RpcRequest(BaseModel):
    """One call (documentation of the request body)."""

    id: int | str | None = Field(0, description="0 for a call, null for a notification")
    method: str = Field(examples=["Customers.get"])
    params: dict[str, Any] | list[Any] | None = Field(None, examples=[{"id": 123}])
    jsonrpc: str | None = Field(None, description='absent, or "2.0"')


_REQUEST_SCHEMA = RpcRequest.model_json_schema()
_ERROR_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "error"],
    "properties": {
        "id": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "null"}]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {"type": "object"}},
        },
    },
}


@router.post(
    PATH,
    # the 200 may be empty (notifications), so the document declares no media type for it
    response_class=Response,
    summary="JSON-RPC endpoint of the original service",
    description=(
        'A relaxed JSON-RPC: `{"id": 0, "method": "Customers.get", "params": {"id": 123}}` '
        "(`id` null for a notification), JSON-RPC 2.0 requests and batches. The body is read as JSON "
        "whatever its content type. Errors are answered with HTTP 200 and "
        "`{id, error: {code, message, data: {code, type, base_type, ...}}}`. Headers: "
        "`Authorization: Bearer <token>`, `Timeout: <seconds>`, `Correlation-Id` (echoed).\n\n" + _method_table()
    ),
    openapi_extra={
        # A missing or unreadable body is answered like any malformed call: HTTP 200 and a parse
        # error object, as JSON-RPC specifies, so the document cannot call the body required.
        "requestBody": {
            "required": False,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_REQUEST_SCHEMA, {"type": "array", "items": _REQUEST_SCHEMA}]}
                },
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        "responses": {
            "200": {"description": "a result or an error object (or an empty body for notifications)"},
            "401": {
                "description": (
                    "a missing or unknown token: `{id, error: {code: 401, message, data: {code: UNAUTHORIZED}}}`"
                ),
                "content": {"application/json": {"schema": _ERROR_ANSWER_SCHEMA}},
            },
        },
    },
)
async def rpc(request: Request) -> Response:
    """Answer one JSON-RPC request or a batch."""
    correlation_id = request.headers.get("correlation-id")
    headers = {"Correlation-Id": correlation_id} if correlation_id else {}
    raw = await request.body()
    try:
        payload: Any = orjson.loads(raw)
        parse_error: Exception | None = None
    except orjson.JSONDecodeError as exc:
        payload, parse_error = None, ParseError(f"the body is not JSON: {exc}")
    single_id = payload.get("id") if isinstance(payload, dict) and valid_id(payload.get("id")) else None

    try:
        caller = deps.reader(request)
        deadline_seconds = timeout_seconds(request.headers.get("timeout"))
    except deps.Unauthorized as exc:
        headers["WWW-Authenticate"] = "Bearer"
        error = {
            "code": 401,
            "message": str(exc),
            "data": {"code": "UNAUTHORIZED", "type": "Unauthorized", "base_type": "ClientError"},
        }
        return _json({"id": single_id, "error": error}, 401, headers)
    except InvalidRequest as exc:
        return _json({"id": single_id, "error": error_object(exc)}, 200, headers)
    if parse_error is not None:
        return _json({"id": None, "error": error_object(parse_error)}, 200, headers)

    deadline = time.monotonic() + deadline_seconds if deadline_seconds else None
    dispatch = Dispatch(METHODS, request.app.state, caller, deadline, correlation_id)
    return _json(await dispatch.answer_payload(payload), 200, headers)
