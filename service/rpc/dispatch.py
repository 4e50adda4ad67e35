"""Dispatch: request objects checked, methods looked up and run under the caller's role and the
request's deadline, batches answered in order."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool
from starlette.datastructures import State

from customers.models import JsonObject
from service import deps
from service.rpc.protocol import INTERNAL_ERROR, CallTimeout, InvalidRequest, MethodNotFound, error_object
from service.rpc.registry import Call, Method, MethodTable, bind

log = logging.getLogger("customers.rpc")

# calls per batch: a batch runs on one request's time, so it is bounded like a page
MAX_BATCH_CALLS = 1000
_NO_ID = object()


def valid_id(value: Any) -> bool:
    """Whether a request's `id` is one JSON-RPC allows (a string, a number or null)."""
    return value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool))


def _request_problem(item: JsonObject) -> str | None:
    """What makes a request object invalid, if anything (unknown members are tolerated)."""
    if "jsonrpc" in item and item["jsonrpc"] != "2.0":
        return 'the "jsonrpc" member must be "2.0" when present'
    if not valid_id(item.get("id")):
        return "the id must be a string, a number or null"
    if not isinstance(item.get("method"), str):
        return 'the "method" member must be a string'
    params = item.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        return "params must be an object (or an array)"
    return None


def answer(request_id: Any, jsonrpc: bool, *, result: Any = None, error: JsonObject | None = None) -> JsonObject:
    """A response object; it names `"jsonrpc"` only when its request did."""
    body: JsonObject = {"jsonrpc": "2.0"} if jsonrpc else {}
    body["id"] = request_id
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    return body


def timeout_seconds(header: str | None) -> float | None:
    """The `Timeout` header's seconds, None when absent (InvalidRequest when not a positive number)."""
    if header is None or not header.strip():
        return None
    try:
        seconds = float(header)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidRequest(f"the Timeout header must be a positive number of seconds, not {header!r}")
    return seconds


@dataclass
class Dispatch:
    """One HTTP request: the methods, the caller, the deadline, the correlation id."""

    methods: MethodTable
    app_state: State
    caller: deps.Caller
    deadline: float | None
    correlation_id: str | None

    async def answer_payload(self, payload: Any) -> JsonObject | list[JsonObject] | None:
        """Answer a request object or a batch; None when nothing is to be answered."""
        if not isinstance(payload, list):
            return await self.call(payload)
        if not payload or len(payload) > MAX_BATCH_CALLS:
            if not payload:
                problem = "an empty batch"
            else:
                problem = f"a batch holds at most {MAX_BATCH_CALLS} calls, not {len(payload)}"
            return answer(None, False, error=error_object(InvalidRequest(problem)))
        # one call after the other, in the batch's order: a later call sees an earlier one's writes
        answers = [reply for item in payload if (reply := await self.call(item)) is not None]
        return answers or None

    async def call(self, item: Any) -> JsonObject | None:
        """Answer one request object; None for a notification."""
        started = time.perf_counter()
        if not isinstance(item, dict):
            return answer(None, False, error=error_object(InvalidRequest("a request must be a JSON object")))
        request_id = item.get("id", _NO_ID)
        jsonrpc = "jsonrpc" in item
        notification = request_id is None or request_id is _NO_ID
        problem = _request_problem(item)
        if problem:
            answer_id = request_id if request_id is not _NO_ID and valid_id(request_id) else None
            return answer(answer_id, jsonrpc, error=error_object(InvalidRequest(problem)))
        name: str = item["method"]

        try:
            result = await self.execute(name, item.get("params"))
            outcome = "ok"
            reply = answer(request_id, jsonrpc, result=result)
        except Exception as exc:  # every failure becomes an error object
            error = error_object(exc)
            if error["code"] == INTERNAL_ERROR:
                log.error(
                    "rpc %s failed (correlation id %s)",
                    name,
                    self.correlation_id,
                    exc_info=exc,
                    extra={"correlation_id": self.correlation_id},
                )
            outcome = f"error {error['code']} {error['data']['code']}"
            reply = answer(None if request_id is _NO_ID else request_id, jsonrpc, error=error)
        log.info(
            "rpc %s %s in %.1f ms (correlation id %s)",
            name,
            outcome,
            (time.perf_counter() - started) * 1000,
            self.correlation_id,
            extra={"correlation_id": self.correlation_id},
        )
        return None if notification else reply

    async def execute(self, name: str, params: Any) -> Any:
        spec = self.methods.get(name)
        if spec is None:
            raise MethodNotFound(f"method {name!r} does not exist", method=name)
        if spec.role == "admin" and self.caller.role != "admin":
            raise deps.Forbidden(f"{name} needs the admin role")
        args = bind(spec, params)
        if self.deadline is None:
            return await self._run(spec, args)
        remaining = self.deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(remaining, 0)) as scope:
                return await self._run(spec, args)
        except TimeoutError:
            if scope.expired():
                raise CallTimeout(f"{name} did not finish within the Timeout of the request") from None
            raise

    async def _run(self, spec: Method, args: JsonObject) -> Any:
        pool: AsyncConnectionPool = self.app_state.pool
        async with pool.connection() as conn:
            state = self.app_state
            call = Call(conn, state.settings, state.questionnaire, getattr(state, "search", None))
            return await spec.body(call, **args)
