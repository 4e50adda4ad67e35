"""The service's one middleware, pure ASGI (no per-request task or stream wrapping as with
BaseHTTPMiddleware): it refuses oversized and deeply nested bodies before any route reads them,
counts requests and latency by route template for Prometheus, and logs failed, slow (or, when
`access_log` is on, all) requests as structured JSON lines."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from customers import metrics
from customers.errors import ValidationFailed, nul_text_errors

log = logging.getLogger("customers.access")

SLOW_REQUEST_SECONDS = 1.0
_UNMATCHED = "unmatched"  # one label for every path no route matched, so scanners cannot explode the series

# Strings are cut out first (brackets inside them do not nest), then only brackets remain.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
# \u0000 escaped in JSON text, unless its backslash is itself escaped (an odd run of backslashes)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_DEPTH_STEP = [0] * 256
_DEPTH_STEP[ord("[")] = _DEPTH_STEP[ord("{")] = 1
_DEPTH_STEP[ord("]")] = _DEPTH_STEP[ord("}")] = -1


def nests_deeper(body: bytes, limit: int) -> bool:
    """Whether the arrays and objects of a JSON text nest more than `limit` levels deep, in
    C-speed passes. A body holding no more `[` and `{` bytes than `limit` cannot (most bodies
    hold a few), and its depth is not worked out."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    skeleton = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    return bool(skeleton) and max(accumulate(map(_DEPTH_STEP.__getitem__, skeleton))) > limit


class _Refused(Exception):
    def __init__(self, status: int, reason: str, body: dict[str, Any]) -> None:
        self.status = status
        self.reason = reason
        self.body = body


class ServiceMiddleware:
    """Body limits, metrics and request logs around the whole application."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_json_depth: int,
        access_log: bool = False,
        own_parsing: tuple[str, ...] = (),
        streamed: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        # paths whose protocol answers malformed bodies itself (JSON-RPC's parse error, HTTP 200):
        # only the size limit applies to them here
        self.own_parsing = own_parsing
        # paths whose bodies (file uploads) the route reads as a stream: not buffered here, but
        # counted against a limit of their own as they pass (413 past it, as for any body)
        self.streamed = dict(streamed or {})
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.access_log = access_log
        # several workers write metrics to shared files: then in batches, every quarter second
        self._recorder = metrics.HttpRecorder(0.25 if metrics.multiprocess_dir() is not None else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_observed(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            if _has_body(scope):
                receive = await self._checked_body(scope, receive)
            await self.app(scope, receive, send_observed)
        except _Refused as refused:
            metrics.HTTP_REFUSED.labels(refused.reason).inc()
            if response_started:
                raise
            status = refused.status
            await _send_json(send, refused.status, refused.body)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive:
        """Read the body (refusing it past the limit), check its nesting, and replay it."""
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
        streamed_limit = self.streamed.get(scope["path"])
        if streamed_limit is not None:
            return _counted(receive, declared, streamed_limit)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            # refused on the header alone: not one byte of the body is read
            raise _Refused(413, "body_too_large", _too_large(limit))
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                # client went away: hand the disconnect on to the application
                return _replay(b"".join(chunks), receive, message)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refused(413, "body_too_large", _too_large(limit))
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if scope["path"] in self.own_parsing:
            return _replay(body, receive, None)
        content_type = (_header(scope, b"content-type") or "application/json").lower()
        if "json" in content_type and nests_deeper(body, self.max_json_depth):
            raise _Refused(
                422,
                "too_deep",
                {
                    "code": "VALIDATION_FAILED",
                    "message": f"the JSON body nests deeper than {self.max_json_depth} levels",
                    "errors": [
                        {
                            "field": "body",
                            "code": "INVALID_FORMAT",
                            "message": f"arrays and objects may nest at most {self.max_json_depth} levels deep",
                        }
                    ],
                },
            )
        if body and "json" in content_type:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                # answered here as the service's 422: FastAPI would answer undeclared 400s for
                # bodies that are not UTF-8
                raise _Refused(
                    422,
                    "bad_json",
                    {
                        "code": "VALIDATION_FAILED",
                        "message": "the request body is not valid JSON",
                        "errors": [{"field": "body", "code": "INVALID_FORMAT", "message": f"not valid JSON: {exc}"}],
                    },
                ) from None
            if b"\\u0000" in body and _JSON_NUL.search(body) and (errors := nul_text_errors(parsed, "")):
                # PostgreSQL text and jsonb cannot hold NUL: refused here, naming the fields,
                # rather than failing at the INSERT
                raise _Refused(422, "nul_text", ValidationFailed(errors).to_dict())
        return _replay(body, receive, None)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path_format", None) or getattr(route, "path", None) or _UNMATCHED
        method = scope["method"]
        self._recorder.record(method, template, status, seconds)
        if self.access_log or status >= 500 or seconds >= SLOW_REQUEST_SECONDS:
            level = logging.WARNING if status >= 500 or seconds >= SLOW_REQUEST_SECONDS else logging.INFO
            # the path may carry a phone or an email: the JSON formatter masks them
            log.log(
                level,
                "%s %s %d",
                method,
                template,
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                },
            )


def _has_body(scope: Scope) -> bool:
    return any(name == b"content-length" or name == b"transfer-encoding" for name, _ in scope["headers"])


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1").strip()
    return None


def _too_large(limit: int) -> dict[str, Any]:
    return {"code": "PAYLOAD_TOO_LARGE", "message": f"the request body is larger than {limit} bytes"}


def _counted(receive: Receive, declared: str | None, limit: int) -> Receive:
    """The server's receive, refusing a body past `limit` bytes: on its declared length before
    anything is read, else as soon as the bytes passed exceed it."""
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _Refused(413, "body_too_large", _too_large(limit))
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _Refused(413, "body_too_large", _too_large(limit))
        return message

    return counted


def _replay(body: bytes, receive: Receive, pending: Message | None) -> Receive:
    """A receive callable that yields the buffered body once, then defers to the server's."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pending is not None:
            return pending
        return await receive()

    return replayed


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if status == 413:
        # the unread rest of the body makes the connection unusable for another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


_POOL_CHECK_INTERVAL = 1.0


def recheck_pool(app: Any) -> None:
    """After a database failure, drop the pools' broken idle connections in the background
    (at most once a second), so that once PostgreSQL is back no request is handed a dead one."""
    state = app.state
    now = time.monotonic()
    if now - getattr(state, "pool_checked_at", 0.0) < _POOL_CHECK_INTERVAL:
        return
    state.pool_checked_at = now
    pools = getattr(state, "pools", [])
    if pools:
        task = asyncio.get_running_loop().create_task(_check(pools))
        # keep a reference until done, and consume its outcome (a failing check is retried later)
        state.pool_check_task = task
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


async def _check(pools: list[Any]) -> None:
    await asyncio.gather(*(pool.check() for pool in pools))
