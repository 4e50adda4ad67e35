"""The JSON-RPC endpoint of the original service, `POST /public/rpc`, kept wire-compatible.

Existing clients speak a relaxed JSON-RPC: no `"jsonrpc"` member, `id` 0 for calls and null
for notifications, bodies sent as `application/octet-stream` (or without a content type),
every parameter present with null for "not given", and `_type` tags on objects. Standard
JSON-RPC 2.0 requests and batches are accepted too.

Every method calls the same store functions as the REST routes, under the same roles, so
validation, error codes and the search copy of writes are identical. Errors are always answered
with HTTP 200 and an error object `{code, message, data: {code, type, base_type, ...}}`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, get_type_hints

import orjson
import psycopg
from fastapi import APIRouter, Request, Response
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, create_model

from customers import cards, db, groups, search, settings_store, store
from customers.config import Role, Settings
from customers.errors import CustomersError, ValidationFailed, nul_text_errors
from customers.models import CustomerCreate, CustomerUpdate
from customers.questionnaire import Questionnaire, field_errors
from customers.settings_store import QuestionnaireCache
from service import deps
from service.params import StrictId, StrictLimit, StrictOffset
from service.responses import JSONResponse

log = logging.getLogger("customers.rpc")
router = APIRouter(tags=["rpc"])

PATH = "/public/rpc"
# calls per batch: a batch runs on one request's time, so it is bounded like a page
MAX_BATCH = 1000
JsonObject = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Protocol errors (the service's own errors come from customers.errors)


class RpcError(Exception):
    """An error of the JSON-RPC layer itself, with its fixed code and class name."""

    code: ClassVar[int] = -32603
    type_name: ClassVar[str] = "InternalError"
    service_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    code, type_name, service_code = -32700, "ParseError", "PARSE_ERROR"


class InvalidRequest(RpcError):
    code, type_name, service_code = -32600, "InvalidRequest", "INVALID_REQUEST"


class MethodNotFound(RpcError):
    code, type_name, service_code = -32601, "MethodNotFound", "METHOD_NOT_FOUND"


class InvalidParams(RpcError):
    code, type_name, service_code = -32602, "InvalidParams", "INVALID_PARAMS"


class CallTimeout(CustomersError):
    """The call did not finish within the caller's `Timeout` header."""

    code = "TIMEOUT"
    status = 504


# HTTP-like status of a service error → (error code, class name) in the error object
_BY_STATUS: dict[int, tuple[int, str]] = {
    400: (400, "BadRequest"),
    401: (401, "Unauthorized"),
    403: (403, "Forbidden"),
    404: (404, "NotFound"),
    409: (409, "Conflict"),
    422: (-32702, "ModelValidationError"),
    503: (503, "ServiceUnavailable"),
    504: (504, "Timeout"),
}
_CLIENT_CODES = frozenset({-32700, -32600, -32601, -32602, -32702})


def _base_type(code: int) -> str:
    return "ClientError" if code in _CLIENT_CODES or 400 <= code < 500 else "InternalError"


def error_object(exc: BaseException) -> JsonObject:
    """The `error` member for any exception: always code, message and an object `data`."""
    exc = db.translate(exc)
    if isinstance(exc, RpcError):
        code, type_name, message = exc.code, exc.type_name, exc.message
        data: JsonObject = {**exc.data, "code": exc.service_code}
    elif isinstance(exc, deps.Forbidden):
        code, type_name, message = 403, "Forbidden", str(exc)
        data = {"code": "FORBIDDEN"}
    elif isinstance(exc, CustomersError):
        code, type_name = _BY_STATUS.get(exc.status, (exc.status, "InternalError"))
        message = exc.message
        data = {**exc.details, "code": exc.code}
        if isinstance(exc, ValidationFailed):
            data["errors"] = [e.to_dict() for e in exc.errors]
        elif code == -32702 and "field" in exc.details:
            data["errors"] = [{"field": exc.details["field"], "code": exc.code, "message": exc.message}]
    else:
        code, type_name, message = -32603, "InternalError", "Internal error"
        data = {"code": "INTERNAL_ERROR"}
    data["type"] = type_name
    data["base_type"] = _base_type(code)
    return {"code": code, "message": message, "data": data}


# ---------------------------------------------------------------------------------------------
# Method registry: a method's parameters are its signature, checked by a pydantic model


@dataclass(frozen=True)
class Call:
    """What a method body gets: a connection, the settings, the questionnaire in force."""

    conn: psycopg.AsyncConnection[Any]
    settings: Settings
    questionnaire_cache: QuestionnaireCache
    search_runtime: search.SearchRuntime | None

    async def questionnaire(self) -> Questionnaire:
        return await self.questionnaire_cache.get(self.conn)

    @property
    def region(self) -> str:
        return self.settings.phone_default_region


MethodBody = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    role: Role
    body: MethodBody
    params: type[BaseModel]
    order: tuple[str, ...]
    summary: str


METHODS: dict[str, Method] = {}


def method(name: str, role: Role) -> Callable[[MethodBody], MethodBody]:
    """Register a method; its keyword parameters (after the Call) are the RPC parameters."""

    def register(body: MethodBody) -> MethodBody:
        hints = get_type_hints(body, include_extras=True)
        fields: dict[str, Any] = {}
        for pname, param in list(inspect.signature(body).parameters.items())[1:]:
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[pname] = (hints[pname], default)
        model = create_model("Params_" + name.replace(".", "_"), __config__=ConfigDict(extra="forbid"), **fields)
        summary = (body.__doc__ or "").strip().splitlines()[0] if body.__doc__ else ""
        METHODS[name] = Method(name, role, body, model, tuple(fields), summary)
        return body

    return register


def without_nulls(value: Any) -> Any:
    """Drop `_type` tags and null members of objects at every depth: null means "not given"."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None and k != "_type"}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def bind(spec: Method, params: Any) -> JsonObject:
    """Check the call's params against the method's signature (InvalidParams otherwise)."""
    if params is None:
        params = {}
    elif isinstance(params, list):
        if len(params) > len(spec.order):
            raise InvalidParams(f"{spec.name} takes {len(spec.order)} parameters, {len(params)} given")
        params = dict(zip(spec.order, params, strict=False))
    params = without_nulls(params)
    # PostgreSQL cannot store a NUL character: refused here, naming the field, for every text
    # parameter and every string inside an object parameter (not left to fail at the driver)
    errors = [error for name, value in params.items() for error in nul_text_errors(value, name)]
    if not errors:
        try:
            checked = spec.params.model_validate(params)
        except ValidationError as exc:
            errors = field_errors(exc.errors(include_url=False))
    if errors:
        summary = "; ".join(f"{e.field}: {e.code}" for e in errors[:5])
        raise InvalidParams(
            f"invalid params of {spec.name} ({summary})", errors=[e.to_dict() for e in errors]
        ) from None
    return {name: getattr(checked, name) for name in spec.order}


def model_input(model: type[BaseModel], data: JsonObject) -> Any:
    """Validate an object parameter (e.g. a customer) exactly as the REST body is validated."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc.errors(include_url=False))) from None


# ---------------------------------------------------------------------------------------------
# Customers


@method("Customers.create", "admin")
async def customers_create(call: Call, customer: JsonObject) -> Any:
    """Create a customer; returns it with its new id."""
    data = model_input(CustomerCreate, customer)
    return await store.create_customer(call.conn, data, await call.questionnaire(), call.region)


@method("Customers.get", "reader")
async def customers_get(call: Call, id: StrictInt) -> Any:
    """A customer by id, or null."""
    return await store.get_customer(call.conn, id)


@method("Customers.get_by_phone", "reader")
async def customers_get_by_phone(call: Call, phone: StrictStr) -> Any:
    """A customer by phone in any human format, or null."""
    return await store.lookup_by_phone(phone, call.region, lambda normalised: store.get_by_phone(call.conn, normalised))


@method("Customers.get_by_email", "reader")
async def customers_get_by_email(call: Call, email: StrictStr) -> Any:
    """A customer by email (case-insensitive), or null."""
    return await store.get_by_email(call.conn, store.lookup_email(email))


@method("Customers.get_by_card", "reader")
async def customers_get_by_card(call: Call, card_id: StrictStr) -> Any:
    """The customer of an enabled card or a live login code, or null."""
    return await cards.get_customer_by_card(call.conn, card_id)


@method("Customers.update", "admin")
async def customers_update(call: Call, id: StrictInt, customer: JsonObject) -> Any:
    """Change some attributes; profile, meta and subscriptions merge key by key."""
    data = model_input(CustomerUpdate, customer)
    return await store.update_customer(call.conn, id, data, await call.questionnaire())


@method("Customers.delete", "admin")
async def customers_delete(call: Call, id: StrictInt) -> Any:
    """Delete a customer; returns the deleted record."""
    return await store.delete_customer(call.conn, id)


@method("Customers.block", "admin")
async def customers_block(call: Call, id: StrictInt) -> Any:
    """Block a customer."""
    return await store.set_blocked(call.conn, id, True)


@method("Customers.unblock", "admin")
async def customers_unblock(call: Call, id: StrictInt) -> Any:
    """Unblock a customer."""
    return await store.set_blocked(call.conn, id, False)


@method("Customers.change_phone", "admin")
async def customers_change_phone(call: Call, id: StrictInt, phone: StrictStr) -> Any:
    """Give a customer another phone (unique across customers)."""
    return await store.change_phone(call.conn, id, phone, call.region)


@method("Customers.change_email", "admin")
async def customers_change_email(call: Call, id: StrictInt, email: StrictStr) -> Any:
    """Give a customer another email; it starts unconfirmed."""
    return await store.change_email(call.conn, id, email)


@method("Customers.activate_email", "admin")
async def customers_activate_email(call: Call, id: StrictInt) -> Any:
    """Mark the customer's email as confirmed."""
    return await store.activate_email(call.conn, id)


@method("Customers.find", "reader")
async def customers_find(
    call: Call,
    query: StrictStr | None = None,
    filters: list[JsonObject] | None = None,
    offset: StrictInt | None = None,
    limit: StrictInt | None = None,
    sort_key: StrictStr | None = None,
    sort_order: StrictStr | None = None,
) -> Any:
    """Find customers by free text and filters: {total, items, engine, fallback}."""
    order = sort_order.lower() if sort_order is not None else None  # "ASC"/"DESC" as well
    given = {
        "query": query,
        "filters": filters,
        "offset": offset,
        "limit": limit,
        "sort_key": sort_key,
        "sort_order": order,
    }
    request = model_input(search.FindRequest, {k: v for k, v in given.items() if v is not None})
    result = await search.find(
        call.conn, await call.questionnaire(), request, settings=call.settings, runtime=call.search_runtime
    )
    return result.to_dict()


# ---------------------------------------------------------------------------------------------
# Search index administration: the search module's synchronous functions, run in a thread.
# A call cut short by the Timeout header is answered at once, but the work already started in
# Redis runs to its end (a rebuild is safe to interrupt only between its own steps).


@method("Customers.search.idx.init", "admin")
async def search_idx_init(call: Call, load_docs: StrictBool = False) -> Any:
    """Create the index if there is none: documents loaded, or null when it existed."""
    search.require_enabled(call.settings)
    return await asyncio.to_thread(search.init_index, call.settings, load_docs=load_docs)


@method("Customers.search.idx.flush", "admin")
async def search_idx_flush(call: Call) -> Any:
    """Drop the index with all its documents: how many indexes were dropped."""
    search.require_enabled(call.settings)
    return await asyncio.to_thread(search.flush_index, call.settings)


@method("Customers.search.idx.migrate", "admin")
async def search_idx_migrate(call: Call, load_docs: StrictBool = True) -> Any:
    """Rebuild the index from the questionnaire in force and switch to it: documents loaded."""
    search.require_enabled(call.settings)
    result = await asyncio.to_thread(search.migrate_index, call.settings, load_docs=load_docs)
    return result.documents


# ---------------------------------------------------------------------------------------------
# Questionnaire settings


@method("Customers.settings.get", "reader")
async def settings_get(call: Call) -> Any:
    """The questionnaire settings in force, with their version."""
    return await settings_store.get_settings(call.conn)


@method("Customers.settings.set", "admin")
async def settings_set(call: Call, value: JsonObject) -> Any:
    """Merge a partial settings document into the one in force; returns the new settings."""
    return await settings_store.update_settings(call.conn, value)


@method("Customers.settings.reset", "admin")
async def settings_reset(call: Call) -> Any:
    """Return to the shipped default settings."""
    return await settings_store.reset_settings(call.conn)


# ---------------------------------------------------------------------------------------------
# Cards


@method("Customers.cards.create", "admin")
async def cards_create(call: Call, customer_id: StrictInt, card_type: StrictStr | None = None) -> Any:
    """Issue a card with a generated id (VIRTUAL, APPLE, GOOGLE, PERSONAL_OFFER; default VIRTUAL)."""
    return await cards.create_card(call.conn, customer_id, cards.generated_card_type(card_type))


@method("Customers.cards.add", "admin")
async def cards_add(call: Call, customer_id: StrictInt, card_id: StrictStr) -> Any:
    """Attach a physical card (its number starts with 441)."""
    return await cards.add_physical_card(call.conn, customer_id, card_id)


@method("Customers.cards.list", "reader")
async def cards_list(call: Call, customer_id: StrictInt) -> Any:
    """A customer's cards, enabled or not."""
    return await cards.list_cards(call.conn, customer_id)


@method("Customers.cards.deactivate", "admin")
async def cards_deactivate(call: Call, customer_id: StrictInt, card_id: StrictStr) -> Any:
    """Disable one of the customer's cards."""
    return await cards.deactivate_card(call.conn, customer_id, card_id)


@method("Customers.cards.create_temp_card", "admin")
async def cards_create_temp_card(call: Call, customer_id: StrictInt) -> Any:
    """A short-lived login code: {value, expires_after} in seconds."""
    return await cards.create_login_code(call.conn, customer_id, call.settings.login_code_ttl_seconds)


# ---------------------------------------------------------------------------------------------
# Groups


class MembershipItem(BaseModel):
    """One customer and the groups to put it in (or take it out of)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictId
    groups: list[StrictId]


def _pairs(items: list[MembershipItem]) -> list[tuple[int, list[int]]]:
    return [(item.id, item.groups) for item in items]


@method("Groups.create", "admin")
async def groups_create(call: Call, name: StrictStr, meta: JsonObject | None = None) -> Any:
    """Create a group."""
    return await groups.create_group(call.conn, name, meta)


@method("Groups.update", "admin")
async def groups_update(call: Call, id: StrictId, meta: JsonObject) -> Any:
    """Replace a group's meta."""
    return await groups.update_group(call.conn, id, meta)


@method("Groups.delete", "admin")
async def groups_delete(call: Call, id: StrictId) -> Any:
    """Delete a group and its memberships; returns the deleted group."""
    return await groups.delete_group(call.conn, id)


@method("Groups.list", "reader")
async def groups_list(call: Call, offset: StrictOffset = 0, limit: StrictLimit = 100) -> Any:
    """A page of groups, by id."""
    return await groups.list_groups(call.conn, offset, limit)


@method("Groups.customers.add", "admin")
async def groups_customers_add(call: Call, id: StrictId, items: list[StrictId]) -> Any:
    """Put customers (ids) into a group; returns how many were added."""
    return await groups.add_members(call.conn, id, items)


@method("Groups.customers.remove", "admin")
async def groups_customers_remove(call: Call, id: StrictId, items: list[StrictId]) -> Any:
    """Take customers (ids) out of a group; returns how many were removed."""
    return await groups.remove_members(call.conn, id, items)


@method("Groups.customers.list", "reader")
async def groups_customers_list(call: Call, id: StrictId, offset: StrictOffset = 0, limit: StrictLimit = 100) -> Any:
    """A page of a group's customers, by id."""
    return await groups.list_members(call.conn, id, offset, limit)


@method("Groups.customers.add_customer_groups", "admin")
async def groups_add_customer_groups(call: Call, items: list[MembershipItem]) -> Any:
    """Put each customer into its listed groups; returns how many memberships are new."""
    return await groups.add_memberships(call.conn, _pairs(items))


@method("Groups.customers.remove_customer_groups", "admin")
async def groups_remove_customer_groups(call: Call, items: list[MembershipItem]) -> Any:
    """Take each customer out of its listed groups; returns how many memberships ended."""
    return await groups.remove_memberships(call.conn, _pairs(items))


@method("Groups.customer.get_groups", "reader")
async def groups_customer_get_groups(call: Call, customer_id: StrictInt) -> Any:
    """The groups a customer is in, or null when there is no such customer."""
    return await groups.customer_groups(call.conn, customer_id)


# ---------------------------------------------------------------------------------------------
# Dispatch

_NO_ID = object()


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float, str)) and not isinstance(value, bool))


def _request_problem(item: JsonObject) -> str | None:
    """What makes a request object invalid, if anything (unknown members are tolerated)."""
    if "jsonrpc" in item and item["jsonrpc"] != "2.0":
        return 'the "jsonrpc" member must be "2.0" when present'
    if not _valid_id(item.get("id")):
        return "the id must be a string, a number or null"
    if not isinstance(item.get("method"), str):
        return 'the "method" member must be a string'
    params = item.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        return "params must be an object (or an array)"
    return None


def _answer(request_id: Any, jsonrpc: bool, *, result: Any = None, error: JsonObject | None = None) -> JsonObject:
    body: JsonObject = {"jsonrpc": "2.0"} if jsonrpc else {}
    body["id"] = request_id
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    return body


@dataclass
class Dispatch:
    """One HTTP request: the caller, the deadline, the correlation id."""

    app_state: Any
    caller: deps.Caller
    deadline: float | None
    correlation_id: str | None

    async def call(self, item: Any) -> JsonObject | None:
        """Answer one request object; None for a notification."""
        started = time.perf_counter()
        if not isinstance(item, dict):
            return _answer(None, False, error=error_object(InvalidRequest("a request must be a JSON object")))
        request_id = item.get("id", _NO_ID)
        jsonrpc = "jsonrpc" in item
        notification = request_id is None or request_id is _NO_ID
        problem = _request_problem(item)
        if problem:
            answer_id = request_id if request_id is not _NO_ID and _valid_id(request_id) else None
            return _answer(answer_id, jsonrpc, error=error_object(InvalidRequest(problem)))
        name: str = item["method"]

        try:
            result = await self.execute(name, item.get("params"))
            outcome = "ok"
            answer = _answer(request_id, jsonrpc, result=result)
        except Exception as exc:  # every failure becomes an error object
            error = error_object(exc)
            if error["code"] == -32603:
                log.error(
                    "rpc %s failed (correlation id %s)",
                    name,
                    self.correlation_id,
                    exc_info=exc,
                    extra={"correlation_id": self.correlation_id},
                )
            outcome = f"error {error['code']} {error['data']['code']}"
            answer = _answer(None if request_id is _NO_ID else request_id, jsonrpc, error=error)
        log.info(
            "rpc %s %s in %.1f ms (correlation id %s)",
            name,
            outcome,
            (time.perf_counter() - started) * 1000,
            self.correlation_id,
            extra={"correlation_id": self.correlation_id},
        )
        return None if notification else answer

    async def execute(self, name: str, params: Any) -> Any:
        spec = METHODS.get(name)
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


def _timeout(request: Request) -> float | None:
    raw = request.headers.get("timeout")
    if raw is None or not raw.strip():
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise InvalidRequest(f"the Timeout header must be a positive number of seconds, not {raw!r}")
    return seconds


def _json(body: Any, status_code: int, headers: dict[str, str]) -> Response:
    if body is None:
        return Response(status_code=status_code, headers=headers)
    return JSONResponse(body, status_code=status_code, headers=headers)


def _method_table() -> str:
    rows = "\n".join(f"| `{m.name}({', '.join(m.order)})` | {m.role} | {m.summary} |" for m in METHODS.values())
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
    single_id = payload.get("id") if isinstance(payload, dict) and _valid_id(payload.get("id")) else None

    try:
        caller = deps.reader(request)
        deadline_seconds = _timeout(request)
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
    dispatch = Dispatch(request.app.state, caller, deadline, correlation_id)
    if isinstance(payload, list):
        if not payload or len(payload) > MAX_BATCH:
            problem = (
                "an empty batch" if not payload else f"a batch holds at most {MAX_BATCH} calls, not {len(payload)}"
            )
            return _json(_answer(None, False, error=error_object(InvalidRequest(problem))), 200, headers)
        # one call after the other, in the batch's order: a later call sees an earlier one's writes
        answers = [answer for item in payload if (answer := await dispatch.call(item)) is not None]
        return _json(answers or None, 200, headers)
    return _json(await dispatch.call(payload), 200, headers)
