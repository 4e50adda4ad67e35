"""Single-customer CRUD and lookups."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from customers import store
from customers.errors import CustomerNotFound
from customers.models import Customer, CustomerCreate, CustomerUpdate, EmailChange, PhoneChange
from service.deps import AdminDep, ConnDep, QuestionnaireDep, ReaderDep, SettingsDep
from service.responses import ErrorBody, JSONResponse

router = APIRouter(prefix="/customers", tags=["customers"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "CUSTOMER_NOT_FOUND"},
    409: {"model": ErrorBody, "description": "PHONE_EXISTS or EMAIL_EXISTS"},
    422: {"model": ErrorBody, "description": "VALIDATION_FAILED with field errors"},
}


def _found(row: dict[str, Any] | None, what: str) -> JSONResponse:
    if row is None:
        raise CustomerNotFound(f"no customer with this {what}")
    return JSONResponse(row)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Customer, responses=_ERRORS)
async def create_customer(body: CustomerCreate, _: AdminDep, conn: ConnDep, q: QuestionnaireDep, settings: SettingsDep) -> JSONResponse:
    """Create a customer; the id is assigned by the service and the phone must be unique."""
    row = await store.create_customer(conn, body, q, settings.phone_default_region)
    return JSONResponse(row, status_code=status.HTTP_201_CREATED)


@router.get("/by-phone/{phone}", response_model=Customer, responses=_ERRORS)
async def get_by_phone(phone: str, _: ReaderDep, conn: ConnDep, settings: SettingsDep) -> JSONResponse:
    """Find a customer by phone, given in any human format."""
    normalised = store.lookup_phone(phone, settings.phone_default_region)
    return _found(await store.get_by_phone(conn, normalised), "phone")


@router.get("/by-email/{email}", response_model=Customer, responses=_ERRORS)
async def get_by_email(email: str, _: ReaderDep, conn: ConnDep) -> JSONResponse:
    """Find a customer by email (case-insensitive)."""
    return _found(await store.get_by_email(conn, store.lookup_email(email)), "email")


@router.get("/{customer_id}", response_model=Customer, responses=_ERRORS)
async def get_customer(customer_id: int, _: ReaderDep, conn: ConnDep) -> JSONResponse:
    """Read one customer by id."""
    return _found(await store.get_customer(conn, customer_id), "id")


@router.patch("/{customer_id}", response_model=Customer, responses=_ERRORS)
async def update_customer(customer_id: int, body: CustomerUpdate, _: AdminDep, conn: ConnDep, q: QuestionnaireDep) -> JSONResponse:
    """Change some attributes; profile, meta and subscriptions merge key by key (null removes a key)."""
    return JSONResponse(await store.update_customer(conn, customer_id, body, q))


@router.delete("/{customer_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_customer(customer_id: int, _: AdminDep, conn: ConnDep) -> Response:
    """Delete a customer."""
    await store.delete_customer(conn, customer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{customer_id}/block", response_model=Customer, responses=_ERRORS)
async def block(customer_id: int, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Block a customer."""
    return JSONResponse(await store.set_blocked(conn, customer_id, True))


@router.post("/{customer_id}/unblock", response_model=Customer, responses=_ERRORS)
async def unblock(customer_id: int, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Unblock a customer."""
    return JSONResponse(await store.set_blocked(conn, customer_id, False))


@router.put("/{customer_id}/phone", response_model=Customer, responses=_ERRORS)
async def change_phone(customer_id: int, body: PhoneChange, _: AdminDep, conn: ConnDep, settings: SettingsDep) -> JSONResponse:
    """Give a customer another phone (unique across customers)."""
    return JSONResponse(await store.change_phone(conn, customer_id, body.phone, settings.phone_default_region))


@router.put("/{customer_id}/email", response_model=Customer, responses=_ERRORS)
async def change_email(customer_id: int, body: EmailChange, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Give a customer another email; it starts unconfirmed."""
    return JSONResponse(await store.change_email(conn, customer_id, body.email))


@router.post("/{customer_id}/email/activate", response_model=Customer, responses=_ERRORS)
async def activate_email(customer_id: int, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Mark the customer's email as confirmed."""
    return JSONResponse(await store.activate_email(conn, customer_id))
