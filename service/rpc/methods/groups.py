"""`Groups.*`: customer groups and membership."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr

from customers import groups
from customers.models import JsonObject
from service.params import MAX_ID_PAGE_LIMIT, StrictId, StrictIdLimit, StrictLimit, StrictOffset
from service.rpc.registry import Call, MethodTable

group_methods = MethodTable()


class MembershipItem(BaseModel):
    """One customer and the groups to put it in (or take it out of)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictId
    groups: list[StrictId]


def _memberships(items: list[MembershipItem]) -> list[tuple[int, list[int]]]:
    return [(item.id, item.groups) for item in items]


@group_methods.method("Groups.create", "admin")
async def groups_create(call: Call, name: StrictStr, meta: JsonObject | None = None) -> Any:
    """Create a group."""
    return await groups.create_group(call.conn, name, meta)


@group_methods.method("Groups.update", "admin")
async def groups_update(call: Call, id: StrictId, meta: JsonObject) -> Any:
    """Replace a group's meta."""
    return await groups.update_group(call.conn, id, meta)


@group_methods.method("Groups.delete", "admin")
async def groups_delete(call: Call, id: StrictId) -> bool:
    """Delete a group and its memberships (the customers stay): true."""
    await groups.delete_group(call.conn, id)
    return True


@group_methods.method("Groups.list", "reader")
async def groups_list(call: Call, offset: StrictOffset = 0, limit: StrictLimit = 100) -> Any:
    """A page of groups, by id."""
    return await groups.list_groups(call.conn, offset, limit)


@group_methods.method("Groups.customers.add", "admin")
async def groups_customers_add(call: Call, id: StrictId, items: list[StrictId]) -> Any:
    """Put customers (ids) into a group; returns how many were added."""
    return await groups.add_members(call.conn, id, items)


@group_methods.method("Groups.customers.remove", "admin")
async def groups_customers_remove(call: Call, id: StrictId, items: list[StrictId]) -> Any:
    """Take customers (ids) out of a group; returns how many were removed."""
    return await groups.remove_members(call.conn, id, items)


@group_methods.method("Groups.customers.list", "reader")
async def groups_customers_list(
    call: Call, id: StrictId, offset: StrictOffset = 0, limit: StrictIdLimit = MAX_ID_PAGE_LIMIT
) -> Any:
    """A page of the ids of a group's customers, in order (up to 10 000 ids a page)."""
    return await groups.member_ids(call.conn, id, offset, limit)


@group_methods.method("Groups.customers.add_customer_groups", "admin")
async def groups_add_customer_groups(call: Call, items: list[MembershipItem]) -> Any:
    """Put each customer into its listed groups; returns how many memberships are new."""
    return await groups.add_memberships(call.conn, _memberships(items))


@group_methods.method("Groups.customers.remove_customer_groups", "admin")
async def groups_remove_customer_groups(call: Call, items: list[MembershipItem]) -> Any:
    """Take each customer out of its listed groups; returns how many memberships ended."""
    return await groups.remove_memberships(call.conn, _memberships(items))


@group_methods.method("Groups.customer.get_groups", "reader")
async def groups_customer_get_groups(call: Call, customer_id: StrictInt) -> Any:
    """The ids of the groups a customer is in, in order; null when there is no such customer."""
    return await groups.customer_group_ids(call.conn, customer_id)
