"""Loyalty cards and login codes over REST, beside the customer routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from customers import cards
from customers.errors import CustomerNotFound
from customers.models import Customer
from service.deps import AdminDep, ConnDep, ReaderDep, SettingsDep
from service.params import CustomerId
from service.responses import ErrorBody, JSONResponse

router = APIRouter(prefix="/customers", tags=["cards"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "CUSTOMER_NOT_FOUND or CARD_NOT_FOUND"},
    409: {"model": ErrorBody, "description": "CARD_EXISTS: the card id belongs to a customer already"},
    422: {"model": ErrorBody, "description": "INVALID_CARD_FMT, or VALIDATION_FAILED with field errors"},
}


class CardCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_type: StrictStr = Field("VIRTUAL", description="VIRTUAL, APPLE, GOOGLE or PERSONAL_OFFER")


class Card(BaseModel):
    """Exactly these keys."""

    created: str = Field(description="YYYY-MM-DD")
    customer_id: int
    type: str
    id: str
    enabled: bool


class CardList(BaseModel):
    items: list[Card]


class LoginCode(BaseModel):
    value: str
    expires_after: int = Field(description="seconds")


@router.get("/by-card/{card_id}", response_model=Customer, responses=_ERRORS)
async def get_by_card(card_id: str, _: ReaderDep, conn: ConnDep) -> JSONResponse:
    """Find a customer by an enabled card or a live login code."""
    found = await cards.get_customer_by_card(conn, card_id)
    if found is None:
        raise CustomerNotFound("no customer with this card")
    return JSONResponse(found)


@router.get("/{customer_id:int}/cards", response_model=CardList, responses=_ERRORS)
async def list_cards(customer_id: CustomerId, _: ReaderDep, conn: ConnDep) -> JSONResponse:
    """The customer's cards, enabled or not, oldest first."""
    return JSONResponse({"items": await cards.list_cards(conn, customer_id)})


@router.post("/{customer_id:int}/cards", status_code=status.HTTP_201_CREATED, response_model=Card, responses=_ERRORS)
async def create_card(
    customer_id: CustomerId, _: AdminDep, conn: ConnDep, body: CardCreate | None = None
) -> JSONResponse:
    """Issue a card with a generated, unguessable id of the given type (VIRTUAL without a body)."""
    card = await cards.create_card(conn, customer_id, cards.generated_card_type(body.card_type if body else None))
    return JSONResponse(card, status_code=status.HTTP_201_CREATED)


@router.put(
    "/{customer_id:int}/cards/{card_id}", status_code=status.HTTP_201_CREATED, response_model=Card, responses=_ERRORS
)
async def add_physical_card(customer_id: CustomerId, card_id: str, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Attach a physical card (a number starting with 441) to the customer."""
    card = await cards.add_physical_card(conn, customer_id, card_id)
    return JSONResponse(card, status_code=status.HTTP_201_CREATED)


@router.post("/{customer_id:int}/cards/{card_id}/deactivate", response_model=Card, responses=_ERRORS)
async def deactivate_card(customer_id: CustomerId, card_id: str, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Disable one of the customer's cards: it no longer finds the customer."""
    return JSONResponse(await cards.deactivate_card(conn, customer_id, card_id))


@router.post(
    "/{customer_id:int}/login-codes", status_code=status.HTTP_201_CREATED, response_model=LoginCode, responses=_ERRORS
)
async def create_login_code(customer_id: CustomerId, _: AdminDep, conn: ConnDep, settings: SettingsDep) -> JSONResponse:
    """A short-lived login code (a temporary card), replacing the customer's previous one."""
    code = await cards.create_login_code(conn, customer_id, settings.login_code_ttl_seconds)
    return JSONResponse(code, status_code=status.HTTP_201_CREATED)
