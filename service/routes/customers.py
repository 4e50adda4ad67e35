"""Single-customer CRUD and lookups."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from psycopg_pool import AsyncConnectionPool
from starlette.routing import Match, Route
from starlette.types import Scope

from customers import store
from customers.errors import CustomerNotFound, FieldError, ValidationFailed
from customers.models import Customer, CustomerCreate, CustomerUpdate, EmailChange, PhoneChange
from service.coalesce import Coalescer
from service.deps import AdminDep, ConnDep, QuestionnaireDep, ReaderDep, SettingsDep, reader, refuse_nul_text
from service.params import MAX_ID, CustomerId
from service.responses import ErrorBody, JSONResponse

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


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Customer, responses=_ERRORS)
async def create_customer(
    body: CustomerCreate, _: AdminDep, conn: ConnDep, q: QuestionnaireDep, settings: SettingsDep
) -> JSONResponse:
    """Create a customer; the id is assigned by the service and the phone must be unique."""
    row = await store.create_customer(conn, body, q, settings.phone_default_region)
    return JSONResponse(row, status_code=status.HTTP_201_CREATED)


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


class _LookupRoute(Route):
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
    _LookupRoute("/customers/by-phone/{phone}", _fast_by_phone, methods=["GET"], include_in_schema=False),
    _LookupRoute("/customers/by-email/{email}", _fast_by_email, methods=["GET"], include_in_schema=False),
    _LookupRoute("/customers/{customer_id:int}", _fast_by_id, methods=["GET"], include_in_schema=False),
]


@router.patch("/{customer_id:int}", response_model=Customer, responses=_ERRORS)
async def update_customer(
    customer_id: CustomerId, body: CustomerUpdate, _: AdminDep, conn: ConnDep, q: QuestionnaireDep
) -> JSONResponse:
    """Change some attributes; profile, meta and subscriptions merge key by key (null removes a key)."""
    return JSONResponse(await store.update_customer(conn, customer_id, body, q))


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
    """Give a customer another email; it starts unconfirmed."""
    return JSONResponse(await store.change_email(conn, customer_id, body.email))


@router.post("/{customer_id:int}/email/activate", response_model=Customer, responses=_ERRORS)
async def activate_email(customer_id: CustomerId, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Mark the customer's email as confirmed."""
    return JSONResponse(await store.activate_email(conn, customer_id))
