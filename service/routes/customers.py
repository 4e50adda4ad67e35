"""Single-customer CRUD and lookups."""

from __future__ import annotations

import email.message
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request, Response, status
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.routing import Match, Route
from starlette.types import Scope

from customers import store
from customers.errors import CustomerNotFound, FieldError, ValidationFailed
from customers.models import Customer, CustomerCreate, CustomerUpdate, EmailChange, PhoneChange
from customers.questionnaire import field_errors
from service.coalesce import Coalescer
from service.deps import AdminDep, ConnDep, ReaderDep, SettingsDep, admin, reader, refuse_nul_text
from service.params import MAX_ID, CustomerId
from service.responses import ErrorBody, JSONResponse
from service.write_batches import Writes

router = APIRouter(prefix="/customers", tags=["customers"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "CUSTOMER_NOT_FOUND"},
    409: {"model": ErrorBody, "description": "PHONE_EXISTS or EMAIL_EXISTS"},
    422: {"model": ErrorBody, "description": "VALIDATION_FAILED with field errors"},
}


def _found_json(document: bytes | None, what: str) -> Response:
    if document is None:
        raise CustomerNotFound(f"no customer with this {what}")
    return Response(document, media_type="application/json")


# The writes: a create and a partial update are, after the lookups, the hottest requests. They
# are served the same way: the documented FastAPI routes, and plain routes (`write_routes`) that
# read and check the request exactly as FastAPI does (its body rules, its error order: NUL
# parameters, then the role, then path and body fields together) without its dependency solving.
# Both validate against the questionnaire this process holds, checked inside the write statement
# (customers.customer_writes), and answer the JSON text PostgreSQL renders, as the lookups do.
# Concurrent creates, and concurrent updates, are made by one statement (service.write_batches).


async def _create(request: Request, data: CustomerCreate) -> Response:
    writes: Writes = request.app.state.writes
    document = await writes.create(data)
    return Response(document, status_code=status.HTTP_201_CREATED, media_type="application/json")


async def _update(request: Request, customer_id: int, data: CustomerUpdate) -> Response:
    writes: Writes = request.app.state.writes
    document = await writes.update(customer_id, data)
    return Response(document, media_type="application/json")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Customer, responses=_ERRORS)
async def create_customer(body: CustomerCreate, request: Request, _: AdminDep) -> Response:
    """Create a customer; the id is assigned by the service and the phone must be unique."""
    return await _create(request, body)


# The lookups are the till's hot path. Each is served twice over: by the documented FastAPI
# route below, and by a plain Starlette route (`lookup_routes`, served by service.fastlane) that
# skips FastAPI's layers and dependency solving, which under load cost more than the query. Both
# run the same code: the same auth, and the JSON text PostgreSQL renders (store.customers_json),
# fetched through the worker's `Lookups`, which answer concurrent lookups with one query.
# A request the plain route does not match (a non-numeric id) falls through to FastAPI.


class Lookups:
    """The worker's coalesced lookups by id, phone and email (service.coalesce)."""

    def __init__(self, pool: AsyncConnectionPool, *, coalescing: bool = True) -> None:
        self.by_id: Coalescer[int] = Coalescer(pool, store.customers_json, enabled=coalescing)
        self.by_phone: Coalescer[str] = Coalescer(pool, store.customers_json_by_phone, enabled=coalescing)
        self.by_email: Coalescer[str] = Coalescer(pool, store.customers_json_by_email, enabled=coalescing)

    async def aclose(self) -> None:
        """Wait for the lookups already sent."""
        for coalescer in (self.by_id, self.by_phone, self.by_email):
            await coalescer.aclose()


async def _by_phone(request: Request, phone: str) -> Response:
    lookups: Lookups = request.app.state.lookups
    region = request.app.state.settings.phone_default_region
    return _found_json(await store.lookup_by_phone(phone, region, lookups.by_phone.get), "phone")


async def _by_email(request: Request, email: str) -> Response:
    normalised = store.lookup_email(email)
    return _found_json(await request.app.state.lookups.by_email.get(normalised), "email")


async def _by_id(request: Request, customer_id: int) -> Response:
    if not 1 <= customer_id <= MAX_ID:
        raise ValidationFailed([FieldError("customer_id", "NUMBER_CONSTRAINT", f"an id is between 1 and {MAX_ID}")])
    return _found_json(await request.app.state.lookups.by_id.get(customer_id), "id")


@router.get("/by-phone/{phone}", response_model=Customer, responses=_ERRORS)
async def get_by_phone(phone: str, request: Request, _: ReaderDep) -> Response:
    """Find a customer by phone, given in any human format."""
    return await _by_phone(request, phone)


@router.get("/by-email/{email}", response_model=Customer, responses=_ERRORS)
async def get_by_email(email: str, request: Request, _: ReaderDep) -> Response:
    """Find a customer by email (case-insensitive)."""
    return await _by_email(request, email)


@router.get("/{customer_id:int}", response_model=Customer, responses=_ERRORS)
async def get_customer(customer_id: CustomerId, request: Request, _: ReaderDep) -> Response:
    """Read one customer by id."""
    return await _by_id(request, customer_id)


class _FastRoute(Route):
    """A plain route that names itself in the scope, as FastAPI's do, for the request metrics."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


async def _fast_by_phone(request: Request) -> Response:
    reader(request)
    refuse_nul_text(request)
    return await _by_phone(request, request.path_params["phone"])


async def _fast_by_email(request: Request) -> Response:
    reader(request)
    refuse_nul_text(request)
    return await _by_email(request, request.path_params["email"])


async def _fast_by_id(request: Request) -> Response:
    reader(request)
    return await _by_id(request, request.path_params["customer_id"])


lookup_routes = [
    _FastRoute("/customers/by-phone/{phone}", _fast_by_phone, methods=["GET"], include_in_schema=False),
    _FastRoute("/customers/by-email/{email}", _fast_by_email, methods=["GET"], include_in_schema=False),
    _FastRoute("/customers/{customer_id:int}", _fast_by_id, methods=["GET"], include_in_schema=False),
]


@router.patch("/{customer_id:int}", response_model=Customer, responses=_ERRORS)
async def update_customer(customer_id: CustomerId, body: CustomerUpdate, request: Request, _: AdminDep) -> Response:
    """Change some attributes; profile, meta and subscriptions merge key by key (null removes a key)."""
    return await _update(request, customer_id, body)


Input = TypeVar("Input", bound=BaseModel)
_CUSTOMER_ID: TypeAdapter[int] = TypeAdapter(CustomerId)


def _is_json(content_type: str) -> bool:
    """FastAPI's rule for a body it parses as JSON: application/json or application/*+json."""
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def _body_input(request: Request, model: type[Input]) -> tuple[Input | None, list[FieldError]]:
    """The body checked by `model` as FastAPI checks a body parameter: JSON when the content type
    says so (the bytes otherwise, which no model accepts), missing when empty."""
    body = await request.body()
    if not body:
        return None, [FieldError("body", "MISSING", "Field required")]
    content_type = request.headers.get("content-type")
    value: Any = body
    if content_type and _is_json(content_type):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:  # service.middleware refuses such bodies first
            return None, [FieldError("body", "INVALID_FORMAT", "JSON decode error")]
    try:
        return model.model_validate(value, from_attributes=True), []
    except ValidationError as exc:
        return None, field_errors(exc.errors(include_url=False))


async def _fast_create(request: Request) -> Response:
    refuse_nul_text(request)
    admin(request)
    data, errors = await _body_input(request, CustomerCreate)
    if data is None:
        raise ValidationFailed(errors)
    return await _create(request, data)


async def _fast_update(request: Request) -> Response:
    refuse_nul_text(request)
    admin(request)
    customer_id = request.path_params["customer_id"]
    errors: list[FieldError] = []
    try:
        _CUSTOMER_ID.validate_python(customer_id)
    except ValidationError as exc:
        errors = field_errors(exc.errors(include_url=False), "customer_id")
    data, body_errors = await _body_input(request, CustomerUpdate)
    if errors or data is None:
        raise ValidationFailed(errors + body_errors)
    return await _update(request, customer_id, data)


write_routes = [
    _FastRoute("/customers", _fast_create, methods=["POST"], include_in_schema=False),
    _FastRoute("/customers/{customer_id:int}", _fast_update, methods=["PATCH"], include_in_schema=False),
]


@router.delete("/{customer_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_customer(customer_id: CustomerId, _: AdminDep, conn: ConnDep) -> Response:
    """Delete a customer."""
    await store.delete_customer(conn, customer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{customer_id:int}/block", response_model=Customer, responses=_ERRORS)
async def block(customer_id: CustomerId, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Block a customer."""
    return JSONResponse(await store.set_blocked(conn, customer_id, True))


@router.post("/{customer_id:int}/unblock", response_model=Customer, responses=_ERRORS)
async def unblock(customer_id: CustomerId, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Unblock a customer."""
    return JSONResponse(await store.set_blocked(conn, customer_id, False))


@router.put("/{customer_id:int}/phone", response_model=Customer, responses=_ERRORS)
async def change_phone(
    customer_id: CustomerId, body: PhoneChange, _: AdminDep, conn: ConnDep, settings: SettingsDep
) -> JSONResponse:
    """Give a customer another phone (unique across customers)."""
    return JSONResponse(await store.change_phone(conn, customer_id, body.phone, settings.phone_default_region))


@router.put("/{customer_id:int}/email", response_model=Customer, responses=_ERRORS)
async def change_email(customer_id: CustomerId, body: EmailChange, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Give a customer another email; it starts unconfirmed. `null` removes the email."""
    return JSONResponse(await store.change_email(conn, customer_id, body.email))


@router.post("/{customer_id:int}/email/activate", response_model=Customer, responses=_ERRORS)
async def activate_email(customer_id: CustomerId, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Mark the customer's email as confirmed."""
    return JSONResponse(await store.activate_email(conn, customer_id))
