"""The customer store: customers' columns and lookups, their single-column writes and deletes,
and the notification of writes.

Functions take an open async connection from the caller (the service's pool or a CLI
connection) and raise the service's errors; driver errors are translated by `customers.db`.
Creates and updates, checked against the questionnaire in force, are `customers.customer_writes`;
the questionnaire settings have their own store, `customers.settings_store`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from psycopg.rows import dict_row

from customers.contacts import InvalidEmail, InvalidPhone, normalize_email, normalize_phone
from customers.db import AsyncConn, translated
from customers.errors import CustomerNotFound, FieldError, ValidationFailed

log = logging.getLogger(__name__)

COLUMNS = (
    "id, phone, email, email_confirmed, source_id, blocked, profile, meta, subscriptions, "
    "loyalty_enabled, accept_tender_offer, prioritize_sms_verification, created, updated_at"
)


# ---------------------------------------------------------------------------------------------
# Change notification: called after a write has committed (the search index copy listens here)

ChangeListener = Callable[[list[dict[str, Any]], list[int]], Awaitable[None]]
_listeners: list[ChangeListener] = []


def on_change(listener: ChangeListener) -> Callable[[], None]:
    """Call `listener(upserted_rows, deleted_ids)` after every committed customer write of this
    process; returns a function that unsubscribes it. A failing listener is logged, never
    fails the write."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def has_listeners() -> bool:
    """Whether anything listens to this process's writes (a write then answers its record too)."""
    return bool(_listeners)


async def notify_changed(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
    """Tell every listener of a committed write: the rows it wrote, the ids it deleted."""
    for listener in list(_listeners):
        try:
            await listener(upserted, deleted)
        except Exception:  # the write has committed; a copy failing must not undo it
            log.exception("a change listener failed")


# ---------------------------------------------------------------------------------------------
# Customers


def valid_phone(raw: str, region: str, field: str = "phone") -> str:
    """`raw` as the stored phone (E.164 digits); ValidationFailed naming `field` when it is none."""
    try:
        return normalize_phone(raw, region)
    except InvalidPhone as exc:
        raise ValidationFailed([FieldError(field, "INVALID_FORMAT", str(exc), raw)]) from None


def valid_email(raw: str, field: str = "email") -> str:
    """`raw` as the stored email; ValidationFailed naming `field` when it is none."""
    try:
        return normalize_email(raw)
    except InvalidEmail as exc:
        raise ValidationFailed([FieldError(field, "INVALID_FORMAT", str(exc), raw)]) from None


Found = TypeVar("Found")


async def lookup_by_phone(raw: str, region: str, fetch: Callable[[str], Awaitable[Found | None]]) -> Found | None:
    """The rule of every lookup by a phone as the caller gave it: what `fetch(phone)` finds for
    the digits as given, else for the normalised number (ValidationFailed when it is no phone).

    Stored phones are E.164 digits, which is what a till usually sends: tried as given first,
    they need no parsing, which costs a noticeable part of the whole lookup (docs/operations.md).
    """
    tried = None
    if raw.isascii() and raw.isdigit():
        found = await fetch(raw)
        if found is not None:
            return found
        tried = raw
    normalised = valid_phone(raw, region)
    if normalised == tried:
        return None
    return await fetch(normalised)


def lookup_email(raw: str) -> str:
    """Normalise an email given for a lookup (raises ValidationFailed)."""
    return valid_email(raw)


async def _one(conn: AsyncConn, sql: str, params: Any) -> dict[str, Any]:
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        row = await cur.fetchone()
    if row is None:
        raise CustomerNotFound("no customer with this id")
    return row


async def _maybe_one(conn: AsyncConn, sql: str, params: Any) -> dict[str, Any] | None:
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        return await cur.fetchone()


_BY_ID = f"SELECT {COLUMNS} FROM customers WHERE id = %s"
_BY_PHONE = f"SELECT {COLUMNS} FROM customers WHERE phone = %s"


def email_key(table: str = "") -> str:
    """The expression the email index holds (sql/008_bytewise_keys.sql), of the email of `table`
    (an alias of customers) or of customers itself: a lookup spelled otherwise compares under
    another collation, and the index serves it no longer."""
    column = f"{table}.email" if table else "email"
    return f'lower({column}) COLLATE "C"'


EMAIL_KEY = email_key()
_BY_EMAIL = f"SELECT {COLUMNS} FROM customers WHERE {EMAIL_KEY} = %s"


# Lookups served over HTTP: PostgreSQL renders the customer as JSON text (same keys, same values
# as the dict functions give through orjson), so the hot path neither parses jsonb/dates into
# Python objects nor serialises them again. A write answers the same document (customers.customer_writes).
# updated_at is spelled as orjson spells a datetime (6-digit fraction unless zero, +HH:MM), so
# the text of a lookup equals that of a write's answer; PostgreSQL would trim trailing zeros.
_UPDATED_AT_TEXT = (
    "CASE WHEN date_trunc('second', updated_at) = updated_at"
    " THEN to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM')"
    " ELSE to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM') END"
)
AS_JSON = (
    "json_build_object("
    + ", ".join(f"'{c}', {_UPDATED_AT_TEXT if c == 'updated_at' else c}" for c in COLUMNS.split(", "))
    + ")::text"
)
_BY_ID_JSON = f"SELECT {AS_JSON} FROM customers WHERE id = %s"
_BY_PHONE_JSON = f"SELECT {AS_JSON} FROM customers WHERE phone = %s"
_BY_EMAIL_JSON = f"SELECT {AS_JSON} FROM customers WHERE {EMAIL_KEY} = %s"


async def _json_one(conn: AsyncConn, sql: str, value: Any) -> bytes | None:
    async with translated:
        cur = await conn.execute(sql, (value,))
        row = await cur.fetchone()
    return row[0].encode() if row is not None else None


# The same documents for many keys in one statement, keyed by what the caller asked for (the
# service coalesces concurrent lookups into one round trip, see service.coalesce).
_MANY_BY_ID_JSON = f"SELECT id, {AS_JSON} FROM customers WHERE id = ANY(%s::bigint[])"
_MANY_BY_PHONE_JSON = f"SELECT phone, {AS_JSON} FROM customers WHERE phone = ANY(%s::text[])"
_MANY_BY_EMAIL_JSON = f"SELECT lower(email), {AS_JSON} FROM customers WHERE {EMAIL_KEY} = ANY(%s::text[])"


async def _json_many(conn: AsyncConn, one_sql: str, many_sql: str, keys: list[Any]) -> dict[Any, bytes]:
    if len(keys) == 1:
        # the statement for one key is the cheaper one, on both sides (no array to build or scan)
        found = await _json_one(conn, one_sql, keys[0])
        return {} if found is None else {keys[0]: found}
    async with translated:
        cur = await conn.execute(many_sql, (keys,))
        rows = await cur.fetchall()
    return {key: document.encode() for key, document in rows}


async def customers_json(conn: AsyncConn, customer_ids: list[int]) -> dict[int, bytes]:
    """The customers with these ids as JSON documents, by id (absent ids are missing)."""
    return await _json_many(conn, _BY_ID_JSON, _MANY_BY_ID_JSON, customer_ids)


async def customers_json_by_phone(conn: AsyncConn, phones: list[str]) -> dict[str, bytes]:
    """The customers with these normalised phones as JSON documents, by phone."""
    return await _json_many(conn, _BY_PHONE_JSON, _MANY_BY_PHONE_JSON, phones)


async def customers_json_by_email(conn: AsyncConn, emails: list[str]) -> dict[str, bytes]:
    """The customers with these normalised emails as JSON documents, by email."""
    return await _json_many(conn, _BY_EMAIL_JSON, _MANY_BY_EMAIL_JSON, emails)


async def get_customer(conn: AsyncConn, customer_id: int) -> dict[str, Any] | None:
    return await _maybe_one(conn, _BY_ID, (customer_id,))


async def get_by_phone(conn: AsyncConn, phone: str) -> dict[str, Any] | None:
    """Look up by an already normalised phone."""
    return await _maybe_one(conn, _BY_PHONE, (phone,))


async def get_by_email(conn: AsyncConn, email: str) -> dict[str, Any] | None:
    """Look up by an already normalised email."""
    return await _maybe_one(conn, _BY_EMAIL, (email,))


async def _set_columns(conn: AsyncConn, customer_id: int, sets: dict[str, Any]) -> dict[str, Any]:
    row = await _update_columns(conn, customer_id, sets)
    await notify_changed([row], [])
    return row


async def _update_columns(conn: AsyncConn, customer_id: int, sets: dict[str, Any]) -> dict[str, Any]:
    # column names come from the schemas above, never from the request's keys directly
    assignments = ", ".join(f"{name} = %({name})s" for name in sets if name in _WRITABLE)
    sql = (
        f"UPDATE customers SET {assignments}{', ' if assignments else ''}updated_at = now() "
        f"WHERE id = %(id)s RETURNING {COLUMNS}"
    )
    return await _one(conn, sql, {**sets, "id": customer_id})


# every column but the two the database sets
_WRITABLE = frozenset(COLUMNS.split(", ")) - {"id", "updated_at"}


async def set_blocked(conn: AsyncConn, customer_id: int, blocked: bool) -> dict[str, Any]:
    return await _set_columns(conn, customer_id, {"blocked": blocked})


async def change_phone(conn: AsyncConn, customer_id: int, raw_phone: str, region: str) -> dict[str, Any]:
    return await _set_columns(conn, customer_id, {"phone": valid_phone(raw_phone, region)})


async def change_email(conn: AsyncConn, customer_id: int, raw_email: str | None) -> dict[str, Any]:
    """Set a new (unconfirmed) email; none removes the customer's email."""
    email = None if raw_email is None else valid_email(raw_email)
    return await _set_columns(conn, customer_id, {"email": email, "email_confirmed": False})


async def activate_email(conn: AsyncConn, customer_id: int) -> dict[str, Any]:
    """Mark the customer's email as confirmed; a customer without email cannot be."""
    async with translated, conn.transaction():
        cur = await conn.execute("SELECT email FROM customers WHERE id = %s FOR UPDATE", (customer_id,))
        row = await cur.fetchone()
        if row is None:
            raise CustomerNotFound(f"customer {customer_id} does not exist")
        if row[0] is None:
            raise ValidationFailed([FieldError("email", "MISSING", "the customer has no email to activate")])
        updated = await _update_columns(conn, customer_id, {"email_confirmed": True})
    await notify_changed([updated], [])
    return updated


async def delete_customer(conn: AsyncConn, customer_id: int) -> dict[str, Any]:
    """Delete a customer; returns the deleted record."""
    row = await _one(conn, f"DELETE FROM customers WHERE id = %s RETURNING {COLUMNS}", (customer_id,))
    await notify_changed([], [customer_id])
    return row
