"""Customer groups and membership: the store functions and their rules.

A group is `{created, id, name, meta}` (meta always an object). Membership changes are
set-based (one statement for the whole list) and all-or-nothing: when any customer or group of
the request does not exist, nothing is written and the error lists the missing ids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from customers import db
from customers.db import AsyncConn, translated
from customers.errors import CustomerNotFound, FieldError, NotFound, ValidationFailed, unstorable_text
from customers.store import COLUMNS as CUSTOMER_COLUMNS

GROUP_COLUMNS = "created, id, name, meta"
NAME_MAX_LENGTH = 200
# membership ids per request: bounded so one call stays one quick statement
MAX_ITEMS = 10_000
# ids named in a not-found message
_SHOWN = 20


class GroupNotFound(NotFound):
    code = "GROUP_NOT_FOUND"


def group_name(raw: str) -> str:
    """A group name: 1 to 200 characters once surrounding spaces are dropped."""
    name = raw.strip()
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise ValidationFailed(
            [FieldError("name", "LENGTH_CONSTRAINT", f"a group name has 1 to {NAME_MAX_LENGTH} characters", raw)]
        )
    return name


# integers a JSON answer can carry (orjson renders 64-bit integers only)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def group_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Meta as PostgreSQL's jsonb stores it and the service renders it back: no NUL character
    and no lone surrogate in keys or strings, integers within 64 bits, finite numbers."""
    errors: list[FieldError] = []
    _check_json(meta, "meta", errors)
    if errors:
        raise ValidationFailed(errors)
    return meta


def _check_json(value: Any, field: str, errors: list[FieldError]) -> None:
    # list positions are left out of the field's name, as in every other field error
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable_text(key)
            if problem:
                errors.append(FieldError(field, "INVALID_FORMAT", f"a key: {problem}", key))
                continue
            _check_json(item, f"{field}.{key}", errors)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, field, errors)
    elif isinstance(value, str):
        problem = unstorable_text(value)
        if problem:
            errors.append(FieldError(field, "INVALID_FORMAT", problem, value))
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            errors.append(
                FieldError(field, "NUMBER_CONSTRAINT", f"an integer is between {_INT_MIN} and {_INT_MAX}", value)
            )
    elif isinstance(value, float) and not math.isfinite(value):
        errors.append(FieldError(field, "NUMBER_CONSTRAINT", "a number is finite", value))


def _check_size(ids: Sequence[Any], field: str) -> None:
    if len(ids) > MAX_ITEMS:
        raise ValidationFailed([FieldError(field, "LENGTH_CONSTRAINT", f"at most {MAX_ITEMS} ids per request")])


async def _rows(conn: AsyncConn, sql: str, params: Any) -> list[dict[str, Any]]:
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        return await cur.fetchall()


async def _scalar(conn: AsyncConn, sql: str, params: Any) -> Any:
    async with translated:
        cur = await conn.execute(sql, params)
        row = await cur.fetchone()
    return row[0] if row else None


async def create_group(conn: AsyncConn, name: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create a group; the id is assigned by the service."""
    rows = await _rows(
        conn,
        f"INSERT INTO customer_groups (name, meta) VALUES (%s, %s) RETURNING {GROUP_COLUMNS}",
        (group_name(name), Jsonb(group_meta(meta or {}))),
    )
    return rows[0]


async def get_group(conn: AsyncConn, group_id: int) -> dict[str, Any] | None:
    rows = await _rows(conn, f"SELECT {GROUP_COLUMNS} FROM customer_groups WHERE id = %s", (group_id,))
    return rows[0] if rows else None


async def update_group(conn: AsyncConn, group_id: int, meta: dict[str, Any]) -> dict[str, Any]:
    """Replace a group's meta as a whole."""
    rows = await _rows(
        conn,
        f"UPDATE customer_groups SET meta = %s WHERE id = %s RETURNING {GROUP_COLUMNS}",
        (Jsonb(group_meta(meta)), group_id),
    )
    if not rows:
        raise GroupNotFound(f"group {group_id} does not exist")
    return rows[0]


async def delete_group(conn: AsyncConn, group_id: int) -> dict[str, Any]:
    """Delete a group with its memberships (the customers stay); returns the deleted group."""
    rows = await _rows(conn, f"DELETE FROM customer_groups WHERE id = %s RETURNING {GROUP_COLUMNS}", (group_id,))
    if not rows:
        raise GroupNotFound(f"group {group_id} does not exist")
    return rows[0]


async def list_groups(conn: AsyncConn, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """A page of groups, by id."""
    return await _rows(
        conn, f"SELECT {GROUP_COLUMNS} FROM customer_groups ORDER BY id OFFSET %s LIMIT %s", (offset, limit)
    )


async def count_groups(conn: AsyncConn) -> int:
    return int(await _scalar(conn, "SELECT count(*) FROM customer_groups", ()))


# ---------------------------------------------------------------------------------------------
# Membership

_MISSING_CUSTOMERS = """
SELECT coalesce(array_agg(DISTINCT x ORDER BY x), '{}') FROM unnest(%s::bigint[]) AS x
 WHERE NOT EXISTS (SELECT 1 FROM customers WHERE id = x)"""
_MISSING_GROUPS = """
SELECT coalesce(array_agg(DISTINCT x ORDER BY x), '{}') FROM unnest(%s::bigint[]) AS x
 WHERE NOT EXISTS (SELECT 1 FROM customer_groups g WHERE g.id = x)"""
# FOR SHARE keeps the groups from being deleted until the membership rows are written
_LOCK_GROUPS = "SELECT id FROM customer_groups WHERE id = ANY(%s::bigint[]) ORDER BY id FOR SHARE"
_ADD = """
INSERT INTO customer_group_members (group_id, customer_id)
SELECT g, c FROM unnest(%s::bigint[], %s::bigint[]) AS pair(g, c)
ON CONFLICT DO NOTHING"""
_REMOVE = """
DELETE FROM customer_group_members m
 USING unnest(%s::bigint[], %s::bigint[]) AS pair(g, c)
 WHERE m.group_id = pair.g AND m.customer_id = pair.c"""


def _not_found_message(what: str, ids: list[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:_SHOWN])
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return f"{what} do not exist: {shown}{more}"


async def _add_pairs(conn: AsyncConn, group_ids: list[int], customer_ids: list[int]) -> int:
    """Insert (group, customer) pairs after checking that all of them exist; new pairs count."""
    try:
        async with translated, conn.transaction():
            await conn.execute(_LOCK_GROUPS, (sorted(set(group_ids)),))
            missing_groups = await _scalar(conn, _MISSING_GROUPS, (group_ids,))
            if missing_groups:
                raise GroupNotFound(_not_found_message("groups", missing_groups), ids=missing_groups[:_SHOWN])
            missing = await _scalar(conn, _MISSING_CUSTOMERS, (customer_ids,))
            if missing:
                raise CustomerNotFound(_not_found_message("customers", missing), ids=missing[:_SHOWN])
            cur = await conn.execute(_ADD, (group_ids, customer_ids))
            return cur.rowcount
    except db.ForeignKeyViolation:
        # a customer deleted between the check and the insert
        raise CustomerNotFound("a customer of the request was deleted meanwhile") from None


async def _remove_pairs(conn: AsyncConn, group_ids: list[int], customer_ids: list[int]) -> int:
    async with translated:
        cur = await conn.execute(_REMOVE, (group_ids, customer_ids))
        return cur.rowcount


async def _require_group(conn: AsyncConn, group_id: int) -> None:
    if await get_group(conn, group_id) is None:
        raise GroupNotFound(f"group {group_id} does not exist")


async def add_members(conn: AsyncConn, group_id: int, customer_ids: Sequence[int]) -> int:
    """Put customers into a group; returns how many were not members yet."""
    _check_size(customer_ids, "items")
    if not customer_ids:
        await _require_group(conn, group_id)
        return 0
    return await _add_pairs(conn, [group_id] * len(customer_ids), list(customer_ids))


async def remove_members(conn: AsyncConn, group_id: int, customer_ids: Sequence[int]) -> int:
    """Take customers out of a group; returns how many were members."""
    _check_size(customer_ids, "items")
    await _require_group(conn, group_id)
    return await _remove_pairs(conn, [group_id] * len(customer_ids), list(customer_ids))


def _pairs(items: Sequence[tuple[int, Sequence[int]]]) -> tuple[list[int], list[int]]:
    """`[(customer_id, [group ids])]` → parallel group and customer id lists."""
    group_ids: list[int] = []
    customer_ids: list[int] = []
    for customer_id, groups in items:
        group_ids.extend(groups)
        customer_ids.extend([customer_id] * len(groups))
    _check_size(group_ids, "items")
    return group_ids, customer_ids


async def add_memberships(conn: AsyncConn, items: Sequence[tuple[int, Sequence[int]]]) -> int:
    """Put each listed customer into its listed groups; returns how many memberships are new."""
    group_ids, customer_ids = _pairs(items)
    if not group_ids:
        return 0
    return await _add_pairs(conn, group_ids, customer_ids)


async def remove_memberships(conn: AsyncConn, items: Sequence[tuple[int, Sequence[int]]]) -> int:
    """Take each listed customer out of its listed groups; returns how many memberships ended."""
    group_ids, customer_ids = _pairs(items)
    if not group_ids:
        return 0
    return await _remove_pairs(conn, group_ids, customer_ids)


_MEMBERS = f"""
SELECT {CUSTOMER_COLUMNS} FROM customers
 WHERE id IN (SELECT customer_id FROM customer_group_members WHERE group_id = %s
               ORDER BY customer_id OFFSET %s LIMIT %s)
 ORDER BY id"""


async def list_members(conn: AsyncConn, group_id: int, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """A page of a group's customers (full records), by customer id."""
    await _require_group(conn, group_id)
    return await _rows(conn, _MEMBERS, (group_id, offset, limit))


_MEMBER_IDS = """
SELECT customer_id FROM customer_group_members WHERE group_id = %s ORDER BY customer_id OFFSET %s LIMIT %s"""


async def member_ids(conn: AsyncConn, group_id: int, offset: int = 0, limit: int = 100) -> list[int]:
    """A page of the ids of a group's customers, in order."""
    await _require_group(conn, group_id)
    async with translated:
        cur = await conn.execute(_MEMBER_IDS, (group_id, offset, limit))
        return [row[0] for row in await cur.fetchall()]


async def count_members(conn: AsyncConn, group_id: int) -> int:
    return int(await _scalar(conn, "SELECT count(*) FROM customer_group_members WHERE group_id = %s", (group_id,)))


_CUSTOMER_GROUPS = f"""
SELECT {GROUP_COLUMNS} FROM customer_groups
 WHERE id IN (SELECT group_id FROM customer_group_members WHERE customer_id = %s)
 ORDER BY id"""


async def customer_group_ids(conn: AsyncConn, customer_id: int) -> list[int] | None:
    """The ids of the groups a customer is in, in order; None when there is no such customer."""
    async with translated, conn.transaction():
        exists = await _scalar(conn, "SELECT EXISTS (SELECT 1 FROM customers WHERE id = %s)", (customer_id,))
        if not exists:
            return None
        cur = await conn.execute(
            "SELECT group_id FROM customer_group_members WHERE customer_id = %s ORDER BY group_id", (customer_id,)
        )
        return [row[0] for row in await cur.fetchall()]


async def customer_groups(conn: AsyncConn, customer_id: int) -> list[dict[str, Any]] | None:
    """The groups a customer is in; None when there is no such customer."""
    async with translated, conn.transaction():
        exists = await _scalar(conn, "SELECT EXISTS (SELECT 1 FROM customers WHERE id = %s)", (customer_id,))
        if not exists:
            return None
        return await _rows(conn, _CUSTOMER_GROUPS, (customer_id,))
