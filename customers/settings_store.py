"""The questionnaire settings store: versioned settings documents, and the questionnaire in force.

Every change is a new version (a row of `questionnaire_versions`); with no version stored, the
shipped default is in force as version 0. Writers take one advisory lock, across processes, so
versions are numbered without gaps and a read-modify-write never loses another writer's change.
Functions take an open async connection from the caller; driver errors leave as service errors.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from customers.db import AsyncConn, translated
from customers.errors import SettingsVersionNotFound
from customers.questionnaire import Questionnaire
from customers.questionnaire_document import QuestionnaireDocument, default_document, parse_document

_CURRENT_VERSION = "SELECT version, created_at FROM questionnaire_versions ORDER BY version DESC LIMIT 1"
# the version in force, with its document only when it is not the one the caller holds
_CURRENT_IF_OTHER = """
SELECT version, created_at,
       CASE WHEN version <> %(version)s OR created_at IS DISTINCT FROM %(stamp)s THEN document END AS document
  FROM questionnaire_versions ORDER BY version DESC LIMIT 1"""
_VERSION = "SELECT version, document, action, created_at FROM questionnaire_versions WHERE version = %s"
_INSERT_VERSION = """
INSERT INTO questionnaire_versions (version, document, action)
SELECT coalesce(max(version), 0) + 1, %s, %s FROM questionnaire_versions
RETURNING version, document, action, created_at"""
# one writer of the settings at a time, across processes (re-entrant within a transaction)
SETTINGS_WRITERS_LOCK = 7300501
_WRITERS_LOCK = f"SELECT pg_advisory_xact_lock({SETTINGS_WRITERS_LOCK})"
# taken shared, it keeps any writer from putting another version in force until the transaction ends
_IN_FORCE_LOCK = f"SELECT pg_advisory_xact_lock_shared({SETTINGS_WRITERS_LOCK})"
# the members of a settings document that list field specs, merged spec by spec
_SPEC_LISTS = ("fields", "meta_fields")


class QuestionnaireCache:
    """The questionnaire in force as this process last saw it.

    `current` costs no query: the customer writes check in their own statement that the version
    they were validated against is still in force and, when it is not, hand the newer one to
    `adopt` and validate again (`customers.customer_writes`). `get` asks the database first (one small
    query; the document is re-read only after a change), for readers without such a check.

    A version is told apart by its number and the time it was put in force (`stamp`): numbers
    start again at 1 when the table is emptied, the times do not repeat.
    """

    def __init__(self, current: Questionnaire | None = None, stamp: dt.datetime | None = None) -> None:
        self._current = current or Questionnaire.default()
        self._stamp = stamp

    @property
    def current(self) -> Questionnaire:
        """The questionnaire in force when this process last looked (no query)."""
        return self._current

    @property
    def stamp(self) -> dt.datetime | None:
        """When `current` was put in force: None for the shipped default, or when unknown (a cache
        started from a given questionnaire, until it first asks the database)."""
        return self._stamp

    async def get(self, conn: AsyncConn) -> Questionnaire:
        """The questionnaire in force now (one query)."""
        await self.refresh(conn)
        return self._current

    async def refresh(self, conn: AsyncConn) -> bool:
        """Follow the version in force (one query); True when it is another than `current`."""
        async with translated:
            cur = await conn.execute(_CURRENT_IF_OTHER, {"version": self._current.version, "stamp": self._stamp})
            row = await cur.fetchone()
        if row is None:
            if self._current.version == 0 and self._stamp is None:
                return False
            self.adopt(0, None, None)
            return True
        version, created_at, document = row
        if document is None:
            return False
        self.adopt(version, created_at, document)
        return True

    def adopt(self, version: int, created_at: dt.datetime | None, document: Any | None) -> Questionnaire:
        """Hold the version the database answered as the one in force: its number, when it was put
        in force and its stored document (None with version 0: no version stored, the shipped
        default)."""
        if document is None:
            self._current = Questionnaire.default()
        else:
            self._current = Questionnaire(QuestionnaireDocument.model_validate(document), version)
        self._stamp = created_at
        return self._current


async def hold_in_force(conn: AsyncConn) -> None:
    """Keep the questionnaire in force from changing until the caller's transaction ends (the
    settings writers' lock, taken shared: writes wait for a change being made, then hold off the
    next one)."""
    async with translated:
        await conn.execute(_IN_FORCE_LOCK)


async def get_settings(conn: AsyncConn, version: int | None = None) -> dict[str, Any]:
    """The settings in force (or a given version) with their version number."""
    async with translated:
        if version is None:
            cur = await conn.execute(_CURRENT_VERSION)
            row = await cur.fetchone()
            if row is None:
                return {
                    "version": 0,
                    "action": "default",
                    "created_at": None,
                    "document": default_document().to_json(),
                }
            version = row[0]
        cur = await conn.cursor(row_factory=dict_row).execute(_VERSION, (version,))
        found = await cur.fetchone()
    if found is None:
        raise SettingsVersionNotFound(f"settings version {version} does not exist")
    return found


async def set_settings(conn: AsyncConn, data: Any) -> dict[str, Any]:
    """Put a new settings document in force; an invalid one raises InvalidSettings and
    leaves the previous version in force."""
    document = parse_document(data)
    return await _insert_version(conn, document, "set")


async def update_settings(conn: AsyncConn, partial: dict[str, Any]) -> dict[str, Any]:
    """Merge a partial settings document into the one in force and put the result in force.

    A field spec (in `fields` or `meta_fields`) whose key exists replaces that spec in place, a
    new key is appended, specs not mentioned are kept; any other top-level key (a free key, see
    `QuestionnaireDocument`) replaces that key's value, and keys not mentioned are kept. The
    merged document is validated as a whole: an invalid one raises InvalidSettings and leaves the
    previous version in force. The read, the merge and the write hold the writers' lock in one
    transaction, so two concurrent partial updates never lose one another.
    """
    async with translated, conn.transaction():
        await conn.execute(_WRITERS_LOCK)
        current = await get_settings(conn)
        return await set_settings(conn, _merged(current["document"], partial))


async def reset_settings(conn: AsyncConn) -> dict[str, Any]:
    """Return to the shipped default (as a new version)."""
    return await _insert_version(conn, default_document(), "reset")


async def settings_history(conn: AsyncConn, limit: int = 100) -> list[dict[str, Any]]:
    """Every settings version (without its document), newest first."""
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT version, action, created_at FROM questionnaire_versions ORDER BY version DESC LIMIT %s",
            (limit,),
        )
        return await cur.fetchall()


async def _insert_version(conn: AsyncConn, document: QuestionnaireDocument, action: str) -> dict[str, Any]:
    async with translated, conn.transaction():
        await conn.execute(_WRITERS_LOCK)
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(_INSERT_VERSION, (Jsonb(document.to_json()), action))
        row = await cur.fetchone()
    assert row is not None
    return row


def _merged(current: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
    """`partial` applied to the document `current` (see `update_settings`)."""
    merged = {**current, **{k: v for k, v in partial.items() if k not in _SPEC_LISTS}}
    for group in _SPEC_LISTS:
        if group not in partial:
            continue
        given = partial[group]
        if not isinstance(given, list):
            merged[group] = given  # not a list: the document validation names the problem
            continue
        specs = list(current.get(group, []))
        position = {spec.get("key"): i for i, spec in enumerate(specs)}
        for spec in given:
            key = spec.get("key") if isinstance(spec, dict) else None
            if not isinstance(key, Hashable):
                key = None  # an object or a list as a key: the document validation names it
            if key is not None and key in position:
                specs[position[key]] = spec
            else:
                position[key] = len(specs)
                specs.append(spec)
        merged[group] = specs
    return merged
