"""Loyalty cards and temporary login codes: card types, id formats, and their store functions.

A card id is a numeric string whose first digits tell its type. Ids the service generates are a
type prefix followed by random digits from `secrets`, so they are neither sequential nor
guessable; physical cards are issued elsewhere and only attached, after their prefix and length
are checked. A card id belongs to one customer for ever (deactivated or not).

A login code ("temporary card") is a TEMP-prefixed id with a lifetime (`login_code_ttl_seconds`):
while it lives it resolves to its customer like a card; a new one replaces the previous one.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Literal

from psycopg.rows import dict_row

from customers import db
from customers.db import AsyncConn, translated
from customers.errors import CardExists, CustomerNotFound, FieldError, InvalidCardFormat, NotFound, ValidationFailed
from customers.store import COLUMNS as CUSTOMER_COLUMNS

CardType = Literal["TEMP", "VIRTUAL", "APPLE", "GOOGLE", "PERSONAL_OFFER", "PHYSICAL"]
PREFIXES: dict[CardType, str] = {
    "TEMP": "0",
    "VIRTUAL": "1",
    "APPLE": "2",
    "GOOGLE": "3",
    "PERSONAL_OFFER": "9",
    "PHYSICAL": "441",
}
# Types whose ids the service generates with `create_card`; TEMP ids are login codes
# (`create_login_code`) and PHYSICAL ids come printed on plastic (`add_physical_card`).
GENERATED_TYPES: tuple[CardType, ...] = ("VIRTUAL", "APPLE", "GOOGLE", "PERSONAL_OFFER")
DEFAULT_CARD_TYPE: CardType = "VIRTUAL"
# 16 digits in all: a prefix and 15 random digits (10^15 values per type).
GENERATED_ID_LENGTH = 16
# A printed card number: the PHYSICAL prefix, then 7 to 16 digits (10 to 19 digits in all).
PHYSICAL_ID = re.compile(r"^441[0-9]{7,16}$")
CARD_COLUMNS = "created, customer_id, type, id, enabled"
# a freshly drawn id that is already taken (odds about 1e-15 per draw) is drawn again
_DRAWS = 5


class CardNotFound(NotFound):
    code = "CARD_NOT_FOUND"


db.register_unique("cards_pkey", lambda: CardExists("this card id already belongs to a customer"))


def new_card_id(card_type: CardType) -> str:
    """A fresh, unguessable card id of the given type."""
    prefix = PREFIXES[card_type]
    width = GENERATED_ID_LENGTH - len(prefix)
    return prefix + str(secrets.randbelow(10**width)).zfill(width)


def generated_card_type(raw: str | None) -> CardType:
    """The type asked for a generated card (default VIRTUAL); names are case-insensitive."""
    if raw is None:
        return DEFAULT_CARD_TYPE
    name = raw.strip().upper()
    if name == "PHYSICAL":
        message = "physical cards are issued elsewhere: attach one with its card id (cards.add)"
    elif name == "TEMP":
        message = "temporary cards are login codes: create one with create_temp_card"
    elif name in GENERATED_TYPES:
        return name
    else:
        message = f"unknown card type {raw!r} (use one of {', '.join(GENERATED_TYPES)})"
    raise ValidationFailed([FieldError("card_type", "INVALID_ENUM_VALUE", message, raw)])


def physical_card_id(raw: str) -> str:
    """Check a printed card number (surrounding spaces are ignored)."""
    card_id = raw.strip()
    if not PHYSICAL_ID.fullmatch(card_id):
        raise InvalidCardFormat(
            f"{raw!r} is not a physical card number (441 followed by 7 to 16 digits)", field="card_id"
        )
    return card_id


_INSERT_CARD = f"""
INSERT INTO cards (id, customer_id, type)
SELECT %(id)s, id, %(type)s FROM customers WHERE id = %(customer_id)s
ON CONFLICT (id) DO NOTHING
RETURNING {CARD_COLUMNS}"""
_INSERT_PHYSICAL = f"""
INSERT INTO cards (id, customer_id, type)
SELECT %(id)s, id, 'PHYSICAL' FROM customers WHERE id = %(customer_id)s
RETURNING {CARD_COLUMNS}"""
_CUSTOMER_EXISTS = "SELECT EXISTS (SELECT 1 FROM customers WHERE id = %s)"


async def _fetch_one(conn: AsyncConn, sql: str, params: Any) -> dict[str, Any] | None:
    async with translated:
        try:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(sql, params)
            return await cur.fetchone()
        except db.ForeignKeyViolation:
            # the customer was deleted between our check and the write
            raise CustomerNotFound("no customer with this id") from None


async def _customer_exists(conn: AsyncConn, customer_id: int) -> bool:
    async with translated:
        cur = await conn.execute(_CUSTOMER_EXISTS, (customer_id,))
        row = await cur.fetchone()
    return bool(row and row[0])


async def _require_customer(conn: AsyncConn, customer_id: int) -> None:
    if not await _customer_exists(conn, customer_id):
        raise CustomerNotFound(f"customer {customer_id} does not exist")


async def create_card(conn: AsyncConn, customer_id: int, card_type: CardType) -> dict[str, Any]:
    """Issue a card with a generated id to a customer."""
    for _ in range(_DRAWS):
        row = await _fetch_one(
            conn, _INSERT_CARD, {"id": new_card_id(card_type), "type": card_type, "customer_id": customer_id}
        )
        if row is not None:
            return row
        await _require_customer(conn, customer_id)  # no row: a missing customer, or an id drawn twice
    raise CardExists(f"could not draw a free {card_type} card id in {_DRAWS} attempts")


async def add_physical_card(conn: AsyncConn, customer_id: int, raw_card_id: str) -> dict[str, Any]:
    """Attach a physical card to a customer: INVALID_CARD_FMT for a wrong number, CARD_EXISTS when
    the number is already attached to anyone."""
    card_id = physical_card_id(raw_card_id)
    row = await _fetch_one(conn, _INSERT_PHYSICAL, {"id": card_id, "customer_id": customer_id})
    if row is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    return row


async def list_cards(conn: AsyncConn, customer_id: int) -> list[dict[str, Any]]:
    """A customer's cards, enabled or not, oldest first."""
    await _require_customer(conn, customer_id)
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {CARD_COLUMNS} FROM cards WHERE customer_id = %s ORDER BY created, id", (customer_id,)
        )
        return await cur.fetchall()


async def deactivate_card(conn: AsyncConn, customer_id: int, card_id: str) -> dict[str, Any]:
    """Disable one of the customer's cards; it no longer resolves to the customer."""
    row = await _fetch_one(
        conn,
        f"UPDATE cards SET enabled = false WHERE id = %s AND customer_id = %s RETURNING {CARD_COLUMNS}",
        (card_id, customer_id),
    )
    if row is None:
        await _require_customer(conn, customer_id)
        raise CardNotFound(f"customer {customer_id} has no card {card_id!r}")
    return row


_BY_CARD = f"""
SELECT {CUSTOMER_COLUMNS} FROM customers
 WHERE id = (SELECT customer_id FROM cards WHERE id = %(card)s AND enabled
             UNION ALL
             SELECT customer_id FROM login_codes WHERE value = %(card)s AND expires_at > now()
             LIMIT 1)"""


async def get_customer_by_card(conn: AsyncConn, card_id: str) -> dict[str, Any] | None:
    """The customer holding an enabled card or a live login code with this id, if any."""
    return await _fetch_one(conn, _BY_CARD, {"card": card_id.strip()})


_PURGE_EXPIRED = "DELETE FROM login_codes WHERE expires_at <= now()"
_UPSERT_CODE = """
INSERT INTO login_codes (customer_id, value, expires_at)
SELECT id, %(value)s, now() + make_interval(secs => %(ttl)s) FROM customers WHERE id = %(customer_id)s
ON CONFLICT (customer_id) DO UPDATE
   SET value = excluded.value, created_at = now(), expires_at = excluded.expires_at
RETURNING value"""


async def create_login_code(conn: AsyncConn, customer_id: int, ttl_seconds: int) -> dict[str, Any]:
    """A short-lived login code for a customer, replacing any previous one:
    exactly `{value, expires_after}` with the lifetime in seconds."""
    for _ in range(_DRAWS):
        value = new_card_id("TEMP")
        try:
            async with translated, conn.transaction():
                await conn.execute(_PURGE_EXPIRED)
                cur = await conn.execute(_UPSERT_CODE, {"value": value, "ttl": ttl_seconds, "customer_id": customer_id})
                row = await cur.fetchone()
        except db.UniqueViolation:
            continue  # the drawn value is another customer's live code: draw again
        except db.ForeignKeyViolation:
            row = None
        if row is None:
            raise CustomerNotFound(f"customer {customer_id} does not exist")
        return {"value": row[0], "expires_after": ttl_seconds}
    raise CardExists(f"could not draw a free login code in {_DRAWS} attempts")
