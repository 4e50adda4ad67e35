"""`Customers.cards.*`: loyalty cards and login codes."""

from __future__ import annotations

from typing import Any

from pydantic import StrictInt, StrictStr

from customers import cards
from service.rpc.registry import Call, MethodTable

card_methods = MethodTable()


@card_methods.method("Customers.cards.create", "admin")
async def cards_create(call: Call, customer_id: StrictInt, card_type: StrictStr | None = None) -> Any:
    """Issue a card with a generated id (VIRTUAL, APPLE, GOOGLE, PERSONAL_OFFER; default VIRTUAL)."""
    return await cards.create_card(call.conn, customer_id, cards.generated_card_type(card_type))


@card_methods.method("Customers.cards.add", "admin")
async def cards_add(call: Call, customer_id: StrictInt, card_id: StrictStr) -> Any:
    """Attach a physical card (its number starts with 441)."""
    return await cards.add_physical_card(call.conn, customer_id, card_id)


@card_methods.method("Customers.cards.list", "reader")
async def cards_list(call: Call, customer_id: StrictInt) -> Any:
    """A customer's cards, enabled or not."""
    return await cards.list_cards(call.conn, customer_id)


@card_methods.method("Customers.cards.deactivate", "admin")
async def cards_deactivate(call: Call, customer_id: StrictInt, card_id: StrictStr) -> bool:
    """Disable one of the customer's cards (it stays listed, enabled false): true."""
    await cards.deactivate_card(call.conn, customer_id, card_id)
    return True


@card_methods.method("Customers.cards.create_temp_card", "admin")
async def cards_create_temp_card(call: Call, customer_id: StrictInt) -> Any:
    """A short-lived login code: {value, expires_after} in seconds."""
    return await cards.create_login_code(call.conn, customer_id, call.settings.login_code_ttl_seconds)
