"""Customer groups and membership over REST."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from customers import groups
from customers.errors import CustomerNotFound
from customers.groups import GroupNotFound
from service.deps import AdminDep, ConnDep, ReaderDep
from service.params import CustomerId, GroupId, PageLimit, PageOffset, StrictId
from service.responses import ErrorBody, JSONResponse

router = APIRouter(tags=["groups"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "GROUP_NOT_FOUND or CUSTOMER_NOT_FOUND (with the missing ids)"},
    422: {"model": ErrorBody, "description": "VALIDATION_FAILED with field errors"},
}


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GroupCreate(_Input):
    name: StrictStr = Field(description="1 to 200 characters")
    meta: dict[str, Any] = Field(default_factory=dict)


class GroupUpdate(_Input):
    meta: dict[str, Any] = Field(description="Replaces the group's meta as a whole")


class Group(BaseModel):
    created: str = Field(description="YYYY-MM-DD")
    id: int
    name: str
    meta: dict[str, Any]


class GroupPage(BaseModel):
    items: list[Group]
    total: int
    offset: int
    limit: int


class CustomerIds(_Input):
    items: list[StrictId] = Field(max_length=groups.MAX_ITEMS, description="customer ids")


class Membership(_Input):
    id: StrictId = Field(description="a customer id")
    groups: list[StrictId] = Field(description="group ids")


class Memberships(_Input):
    items: list[Membership]


class Count(BaseModel):
    count: int


@router.post("/groups", status_code=status.HTTP_201_CREATED, response_model=Group, responses=_ERRORS)
async def create_group(body: GroupCreate, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Create a group; the id is assigned by the service."""
    return JSONResponse(await groups.create_group(conn, body.name, body.meta), status_code=status.HTTP_201_CREATED)


@router.get("/groups", response_model=GroupPage)
async def list_groups(_: ReaderDep, conn: ConnDep, offset: PageOffset = 0, limit: PageLimit = 100) -> JSONResponse:
    """A page of groups, by id, with the total count."""
    items = await groups.list_groups(conn, offset, limit)
    return JSONResponse({"items": items, "total": await groups.count_groups(conn), "offset": offset, "limit": limit})


@router.post("/groups/memberships", response_model=Count, responses=_ERRORS)
async def add_memberships(body: Memberships, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Put each listed customer into its listed groups (all or nothing); counts the new memberships."""
    count = await groups.add_memberships(conn, [(item.id, item.groups) for item in body.items])
    return JSONResponse({"count": count})


@router.post("/groups/memberships/remove", response_model=Count, responses=_ERRORS)
async def remove_memberships(body: Memberships, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Take each listed customer out of its listed groups; counts the memberships ended."""
    count = await groups.remove_memberships(conn, [(item.id, item.groups) for item in body.items])
    return JSONResponse({"count": count})


@router.get("/groups/{group_id:int}", response_model=Group, responses=_ERRORS)
async def get_group(group_id: GroupId, _: ReaderDep, conn: ConnDep) -> JSONResponse:
    """Read one group."""
    found = await groups.get_group(conn, group_id)
    if found is None:
        raise GroupNotFound(f"group {group_id} does not exist")
    return JSONResponse(found)


@router.patch("/groups/{group_id:int}", response_model=Group, responses=_ERRORS)
async def update_group(group_id: GroupId, body: GroupUpdate, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Replace a group's meta."""
    return JSONResponse(await groups.update_group(conn, group_id, body.meta))


@router.delete("/groups/{group_id:int}", status_code=status.HTTP_204_NO_CONTENT, responses=_ERRORS)
async def delete_group(group_id: GroupId, _: AdminDep, conn: ConnDep) -> Response:
    """Delete a group and its memberships (the customers stay)."""
    await groups.delete_group(conn, group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/groups/{group_id:int}/customers", responses=_ERRORS)
async def list_members(
    group_id: GroupId, _: ReaderDep, conn: ConnDep, offset: PageOffset = 0, limit: PageLimit = 100
) -> JSONResponse:
    """A page of the group's customers (full records, by id), with the total count."""
    items = await groups.list_members(conn, group_id, offset, limit)
    return JSONResponse(
        {"items": items, "total": await groups.count_members(conn, group_id), "offset": offset, "limit": limit}
    )


@router.post("/groups/{group_id:int}/customers", response_model=Count, responses=_ERRORS)
async def add_members(group_id: GroupId, body: CustomerIds, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Put customers into the group (all or nothing); counts those that were not members yet."""
    return JSONResponse({"count": await groups.add_members(conn, group_id, body.items)})


@router.post("/groups/{group_id:int}/customers/remove", response_model=Count, responses=_ERRORS)
async def remove_members(group_id: GroupId, body: CustomerIds, _: AdminDep, conn: ConnDep) -> JSONResponse:
    """Take customers out of the group; counts those that were members."""
    return JSONResponse({"count": await groups.remove_members(conn, group_id, body.items)})


@router.get("/customers/{customer_id:int}/groups", responses=_ERRORS)
async def customer_groups(customer_id: CustomerId, _: ReaderDep, conn: ConnDep) -> JSONResponse:
    """The groups a customer is in."""
    found = await groups.customer_groups(conn, customer_id)
    if found is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    return JSONResponse({"items": found})
