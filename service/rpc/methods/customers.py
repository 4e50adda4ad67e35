"""`Customers.*`: single-customer writes and lookups, and `find`.

Results are those of the original service, whose published client converts them with strict
types: a write that changes a flag or a contact answers `true` (or null), not the customer; `find`
answers the page as an array. REST answers the same operations with the customer record.
"""

from __future__ import annotations

from typing import Any

from pydantic import StrictInt, StrictStr

from customers import cards, customer_writes, search, store
from customers.models import CustomerCreate, CustomerUpdate, JsonObject
from service.rpc.registry import Call, MethodTable, model_input

customer_methods = MethodTable()


@customer_methods.method("Customers.create", "admin")
async def customers_create(call: Call, customer: JsonObject) -> Any:
    """Create a customer; returns it with its new id."""
    data = model_input(CustomerCreate, customer)
    return await customer_writes.create_customer(call.conn, data, call.questionnaire_cache, call.region)


@customer_methods.method("Customers.get", "reader")
async def customers_get(call: Call, id: StrictInt) -> Any:
    """A customer by id, or null."""
    return await store.get_customer(call.conn, id)


@customer_methods.method("Customers.get_by_phone", "reader")
async def customers_get_by_phone(call: Call, phone: StrictStr) -> Any:
    """A customer by phone in any human format, or null."""
    return await store.lookup_by_phone(phone, call.region, lambda normalised: store.get_by_phone(call.conn, normalised))


@customer_methods.method("Customers.get_by_email", "reader")
async def customers_get_by_email(call: Call, email: StrictStr) -> Any:
    """A customer by email (case-insensitive), or null."""
    return await store.get_by_email(call.conn, store.lookup_email(email))


@customer_methods.method("Customers.get_by_card", "reader")
async def customers_get_by_card(call: Call, card_id: StrictStr) -> Any:
    """The customer of an enabled card or a live login code, or null."""
    return await cards.get_customer_by_card(call.conn, card_id)


@customer_methods.method("Customers.update", "admin")
async def customers_update(call: Call, id: StrictInt, customer: JsonObject) -> Any:
    """Change some attributes; profile, meta and subscriptions merge key by key."""
    data = model_input(CustomerUpdate, customer)
    return await customer_writes.update_customer(call.conn, id, data, call.questionnaire_cache)


@customer_methods.method("Customers.delete", "admin")
async def customers_delete(call: Call, id: StrictInt) -> None:
    """Delete a customer with its cards, login code and memberships: null."""
    await store.delete_customer(call.conn, id)


@customer_methods.method("Customers.block", "admin")
async def customers_block(call: Call, id: StrictInt) -> None:
    """Block a customer: null."""
    await store.set_blocked(call.conn, id, True)


@customer_methods.method("Customers.unblock", "admin")
async def customers_unblock(call: Call, id: StrictInt) -> None:
    """Unblock a customer: null."""
    await store.set_blocked(call.conn, id, False)


@customer_methods.method("Customers.change_phone", "admin")
async def customers_change_phone(call: Call, id: StrictInt, phone: StrictStr) -> bool:
    """Give a customer another phone (unique across customers): true."""
    await store.change_phone(call.conn, id, phone, call.region)
    return True


@customer_methods.method("Customers.change_email", "admin")
async def customers_change_email(call: Call, id: StrictInt, email: StrictStr | None = None) -> bool:
    """Give a customer another email, which starts unconfirmed, or remove it (none): true."""
    await store.change_email(call.conn, id, email)
    return True


@customer_methods.method("Customers.activate_email", "admin")
async def customers_activate_email(call: Call, id: StrictInt) -> bool:
    """Mark the customer's email as confirmed: true."""
    await store.activate_email(call.conn, id)
    return True


@customer_methods.method("Customers.find", "reader")
async def customers_find(
    call: Call,
    query: StrictStr | None = None,
    filters: list[JsonObject] | None = None,
    offset: StrictInt | None = None,
    limit: StrictInt | None = None,
    sort_key: StrictStr | None = None,
    sort_order: StrictStr | None = None,
) -> Any:
    """Find customers by free text and filters: the page, an array of customer records in order."""
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
    # the original's answer: the page alone (REST `POST /customers/find` adds the total)
    return result.items
