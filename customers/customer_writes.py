"""Creates and updates of customers: one statement each, checked against the questionnaire in force.

The other writes (single columns, deletes) and the lookups are `customers.store`'s; the SQL
condition an update's merge is checked with is `customers.stored_form`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import psycopg
from psycopg import AsyncRawCursor, postgres, pq
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ValidationError

from customers import settings_store
from customers.db import AsyncConn, translated
from customers.errors import CustomerNotFound, FieldError, ValidationFailed
from customers.models import CustomerCreate, CustomerUpdate, create_defaults
from customers.questionnaire import Questionnaire, build_model
from customers.questionnaire_document import FieldSpec
from customers.settings_store import QuestionnaireCache
from customers.store import AS_JSON, COLUMNS, has_listeners, notify_changed, valid_email, valid_phone
from customers.stored_form import stored_form

# Profile and meta are validated against the questionnaire this process holds
# (`QuestionnaireCache.current`, no query). The write statement carries that version and writes
# only while it is still the one in force; when another version is in force it writes nothing and
# answers that version with its document: the cache adopts it, the input is validated again and
# the write retried. So a write validated against a questionnaire no longer in force is never
# stored, and a change made by any process takes effect on the next write, at no cost while
# nothing changes. An input the questionnaire refuses is checked against the version in force
# before it is refused, for the same reason.
#
# A create is one statement. An update merges the given profile and meta keys into the stored
# ones, and the merge is validated as a whole: the given values are validated here, the merge is
# made by the statement, which writes it only if it is in the form the questionnaire's validation
# would store (`stored_form`: every key known, every required key present, every value of its
# field's type, constraints and normal form), so the stored values it keeps need no validation
# here. That is one round trip. When the statement cannot tell (a value it does not check in SQL:
# patterns, emails, datetimes; a legacy value), it writes nothing and answers the stored profile
# and meta: the merge is validated here and written if the row has not changed since (its xmin),
# the second round trip. After `_OPTIMISTIC_ATTEMPTS` misses (a questionnaire or a row changing under
# the write) the write is made in a transaction holding the questionnaire in force
# (settings_store.hold_in_force) and the row (FOR UPDATE), which cannot miss.

_OPTIMISTIC_ATTEMPTS = 3


class _Statement(NamedTuple):
    """A write statement with numbered parameters (`$1`...) and the names they stand for."""

    text: str
    names: tuple[str, ...]


_NAMED_PARAMETER = re.compile(r"%\((\w+)\)s|%%")


def _positional(sql: str) -> _Statement:
    """`sql` with its named parameters (`%(name)s`) numbered once, here.

    The write statements are executed as they are numbered here: psycopg would otherwise parse
    the update statement, too long for its cache of parsed queries, on every execution, and
    would take a `%` in a questionnaire's text (an enum option, inserted after numbering) for a
    parameter."""
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        name = found[1]
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _Statement(_NAMED_PARAMETER.sub(number, sql), tuple(names))


# What a write statement answers first: whether the version it was validated against (`q_version`,
# `q_stamp`; none given: the write does not depend on the questionnaire) is in force, the version
# in force and when it was put in force, and its document when it is not the write's.
_IN_FORCE = """
in_force AS (
    SELECT coalesce(
               %(q_version)s::integer IS NULL
               OR (coalesce(v.version, 0) = %(q_version)s::integer
                   AND (%(q_stamp)s::timestamptz IS NULL OR v.created_at = %(q_stamp)s::timestamptz)),
               false) AS fresh,
           coalesce(v.version, 0) AS version,
           v.created_at
      FROM (SELECT) AS one
      LEFT JOIN LATERAL (
          SELECT version, created_at FROM questionnaire_versions ORDER BY version DESC LIMIT 1
      ) AS v ON true
)"""
_IN_FORCE_ANSWER = """in_force.fresh, in_force.version, in_force.created_at,
       CASE WHEN NOT in_force.fresh
            THEN (SELECT d.document FROM questionnaire_versions AS d WHERE d.version = in_force.version) END"""

# What a write answers of the written customer, its id first: the record (dict functions), the
# JSON document the lookups answer (the HTTP routes), or both (the JSON for the caller, the
# record for the change listeners).
Shape = Literal["row", "json", "both"]
_COLUMN_NAMES = tuple(COLUMNS.split(", "))
_RETURNING: dict[Shape, str] = {
    "row": COLUMNS,
    "json": f"id, {AS_JSON} AS document",
    "both": f"{COLUMNS}, {AS_JSON} AS document",
}
_RETURNED_COUNT: dict[Shape, int] = {"row": len(_COLUMN_NAMES), "json": 2, "both": len(_COLUMN_NAMES) + 1}

_CREATE_TEMPLATE = """
WITH {in_force},
written AS (
    INSERT INTO customers (phone, email, email_confirmed, source_id, blocked, profile, meta, subscriptions,
                           loyalty_enabled, accept_tender_offer, prioritize_sms_verification, created)
    SELECT %(phone)s::text, %(email)s::text, %(email_confirmed)s::boolean, %(source_id)s::text,
           %(blocked)s::boolean, %(profile)s::jsonb, %(meta)s::jsonb, %(subscriptions)s::jsonb,
           %(loyalty_enabled)s::boolean, %(accept_tender_offer)s::boolean,
           %(prioritize_sms_verification)s::boolean, coalesce(%(created)s::date, current_date)
     WHERE (SELECT fresh FROM in_force)
    RETURNING {returning}
)
SELECT {in_force_answer}, written.*
  FROM in_force LEFT JOIN written ON true"""
_CREATE: dict[Shape, _Statement] = {
    shape: _positional(
        _CREATE_TEMPLATE.format(in_force=_IN_FORCE, returning=returning, in_force_answer=_IN_FORCE_ANSWER)
    )
    for shape, returning in _RETURNING.items()
}

# Every partial update, one statement: an attribute not given (null) keeps its value; profile and
# meta are the stored ones (`profile` null), the stored ones with keys removed and keys set (a
# merge: `profile_removed`, `profile`), or a whole new object (`profile_removed` null); they are
# written when `checked`, or when the result is in the questionnaire's stored form. `seen`: the
# row version the caller read. When nothing is written the stored profile, meta and row version
# are answered (none: no such customer).
_UPDATE_TEMPLATE = """
WITH {in_force},
merged AS (
    SELECT id AS merged_id, xmin AS merged_xmin, profile AS stored_profile, meta AS stored_meta,
           CASE WHEN %(profile)s::jsonb IS NULL THEN profile
                WHEN %(profile_removed)s::text[] IS NULL THEN %(profile)s::jsonb
                ELSE (profile - %(profile_removed)s::text[]) || %(profile)s::jsonb END AS new_profile,
           CASE WHEN %(meta)s::jsonb IS NULL THEN meta
                WHEN %(meta_removed)s::text[] IS NULL THEN %(meta)s::jsonb
                ELSE (meta - %(meta_removed)s::text[]) || %(meta)s::jsonb END AS new_meta
      FROM customers
     WHERE id = %(id)s::bigint
),
written AS (
    UPDATE customers
       SET source_id = coalesce(%(source_id)s::text, source_id),
           blocked = coalesce(%(blocked)s::boolean, blocked),
           email = coalesce(%(email)s::text, email),
           -- a new email starts unconfirmed unless the update says otherwise, as change_email leaves it
           email_confirmed = coalesce(%(email_confirmed)s::boolean,
                                      CASE WHEN %(email)s::text IS NOT NULL AND %(email)s::text IS DISTINCT FROM email
                                           THEN false ELSE email_confirmed END),
           profile = new_profile,
           meta = new_meta,
           subscriptions = (subscriptions - %(subscriptions_removed)s::text[]) || %(subscriptions_set)s::jsonb,
           loyalty_enabled = coalesce(%(loyalty_enabled)s::boolean, loyalty_enabled),
           accept_tender_offer = coalesce(%(accept_tender_offer)s::boolean, accept_tender_offer),
           prioritize_sms_verification = coalesce(%(prioritize_sms_verification)s::boolean,
                                                  prioritize_sms_verification),
           created = coalesce(%(created)s::date, created),
           updated_at = now()
      FROM merged
     WHERE id = merged_id
       AND xmin = merged_xmin
       AND (%(seen)s::xid IS NULL OR merged_xmin = %(seen)s::xid)
       AND (SELECT fresh FROM in_force)
       AND (%(checked)s::boolean
            OR ((%(profile)s::jsonb IS NULL OR {profile_form}) AND (%(meta)s::jsonb IS NULL OR {meta_form})))
    RETURNING {returning}
)
SELECT {in_force_answer}, written.*, merged.stored_profile, merged.stored_meta, merged.merged_xmin::text
  FROM in_force
  LEFT JOIN written ON true
  LEFT JOIN merged ON written.id IS NULL"""

# the stored profile and meta an update merges into, and the row version they were read at
_STORED_PARTS = "SELECT profile, meta, xmin::text FROM customers WHERE id = %s::bigint"
_STORED_PARTS_LOCKED = _STORED_PARTS + " FOR UPDATE"
_NOT_GIVEN = {"profile": None, "profile_removed": None, "meta": None, "meta_removed": None}


def _validate_parts(
    q: Questionnaire, profile: dict[str, Any] | None, meta: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Validate profile and meta together, so one answer lists every bad field."""
    errors: list[FieldError] = []
    out: list[dict[str, Any] | None] = []
    for data, check in ((profile, q.validate_profile), (meta, q.validate_meta)):
        if data is None:
            out.append(None)
            continue
        try:
            out.append(check(data))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            out.append(None)
    if errors:
        raise ValidationFailed(errors)
    return out[0], out[1]


def _merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


_PROFILE_FORM = "/* the profile's stored form */"
_META_FORM = "/* the meta's stored form */"


def _update_statement(template: str, q: Questionnaire, shape: Shape, **more: str) -> _Statement:
    """An update statement for the questionnaire `q` (its stored form is part of the text,
    put in after the parameters are numbered: the questionnaire's text is never read as one)."""
    numbered = _positional(
        template.format(
            in_force=_IN_FORCE,
            returning=_RETURNING[shape],
            in_force_answer=_IN_FORCE_ANSWER,
            profile_form=_PROFILE_FORM,
            meta_form=_META_FORM,
            **more,
        )
    )
    text = numbered.text.replace(_PROFILE_FORM, stored_form(q.document.fields, "new_profile"))
    text = text.replace(_META_FORM, stored_form(q.document.meta_fields, "new_meta"))
    return _Statement(text, numbered.names)


@lru_cache(maxsize=16)
def _update_sql(q: Questionnaire, shape: Shape) -> _Statement:
    return _update_statement(_UPDATE_TEMPLATE, q, shape)


@lru_cache(maxsize=16)
def _patch_models(q: Questionnaire) -> tuple[type[BaseModel], type[BaseModel]]:
    """The questionnaire's models with every field optional: they validate the keys an update
    gives, each as the whole model would."""

    def optional(specs: list[FieldSpec]) -> list[FieldSpec]:
        return [spec.model_copy(update={"required": False}) for spec in specs]

    return (
        build_model("ProfilePatch", optional(q.document.fields)),
        build_model("MetaPatch", optional(q.document.meta_fields)),
    )


def _patch_part(model: type[BaseModel], patch: dict[str, Any] | None) -> tuple[Jsonb | None, list[str] | None] | None:
    """The validated values and the removed keys of a profile or meta patch; None when the
    validation refuses a value (the update then validates the merge here, for the whole answer)."""
    if patch is None:
        return None, None
    given = {key: value for key, value in patch.items() if value is not None}
    try:
        valid = model.model_validate(given).model_dump(mode="json", exclude_none=True)
    except ValidationError:
        return None
    return Jsonb(valid), [key for key, value in patch.items() if value is None]


@dataclass(frozen=True)
class _Stored:
    """The stored profile and meta of a customer and the row version they were read at."""

    profile: dict[str, Any]
    meta: dict[str, Any]
    xmin: str


@dataclass(frozen=True)
class _Answer:
    """What a write statement answered: whether the questionnaire was in force, what it wrote
    (the record and/or the JSON document, as the shape asked), and for an update that wrote
    nothing the stored parts (None: no such customer)."""

    fresh: bool
    written: bool = False
    row: dict[str, Any] | None = None
    document: bytes | None = None
    stored: _Stored | None = None


def _questionnaires(q: Questionnaire | QuestionnaireCache) -> QuestionnaireCache:
    # a given questionnaire is held like the cache's, for this write only (its stamp unknown: the
    # statement compares version numbers only)
    return q if isinstance(q, QuestionnaireCache) else QuestionnaireCache(q)


def _shape(want_json: bool) -> Shape:
    if not want_json:
        return "row"
    return "both" if has_listeners() else "json"


async def _validated(
    conn: AsyncConn,
    questionnaires: QuestionnaireCache,
    profile: dict[str, Any] | None,
    meta: dict[str, Any] | None,
    errors: list[FieldError],
    *,
    just_read: bool,
) -> tuple[Questionnaire, dict[str, Any] | None, dict[str, Any] | None]:
    """Profile and meta validated against the questionnaire in force, with the questionnaire used.

    A refusal is checked against the version in force first (one query), unless the cache
    `just_read` it: this process may not have seen a change yet. `errors`, the input's other
    field errors, are reported with theirs."""
    refreshed = just_read
    while True:
        q = questionnaires.current
        try:
            valid_profile, valid_meta = _validate_parts(q, profile, meta)
        except ValidationFailed as exc:
            if not refreshed and await questionnaires.refresh(conn):
                refreshed = True
                continue
            raise ValidationFailed(errors + exc.errors) from None
        if errors:
            raise ValidationFailed(errors)
        return q, valid_profile, valid_meta


async def _write(
    conn: AsyncConn,
    statement: _Statement,
    params: dict[str, Any],
    shape: Shape,
    q: Questionnaire | None,
    questionnaires: QuestionnaireCache,
) -> _Answer:
    """Run a checked write statement. When the questionnaire in force is not `q` it wrote nothing
    and the cache has adopted the one in force (`fresh` false)."""
    params["q_version"] = None if q is None else q.version
    params["q_stamp"] = None if q is None else questionnaires.stamp
    async with translated:
        cur = AsyncRawCursor(conn)
        await cur.execute(statement.text, [params[name] for name in statement.names])
        answer = await cur.fetchone()
    assert answer is not None  # the statement answers one row, written or not
    fresh, version, created_at, document, *rest = answer
    if not fresh:
        questionnaires.adopt(version, created_at, document)
        return _Answer(fresh=False)
    count = _RETURNED_COUNT[shape]
    written, tail = rest[:count], rest[count:]
    if written[0] is None:
        stored = _Stored(*tail) if tail and tail[-1] is not None else None
        return _Answer(fresh=True, stored=stored)
    row = dict(zip(_COLUMN_NAMES, written, strict=False)) if shape != "json" else None
    json_text = written[-1].encode() if shape != "row" else None
    return _Answer(fresh=True, written=True, row=row, document=json_text)


async def _until_written(conn: AsyncConn, attempt: Callable[[bool], Awaitable[_Answer | None]]) -> _Answer:
    """`attempt(locked=False)` until it writes (it answers None when it did not), at most
    `_OPTIMISTIC_ATTEMPTS` times; then `attempt(locked=True)` in a transaction holding the
    questionnaire in force, which writes (or raises)."""
    for _ in range(_OPTIMISTIC_ATTEMPTS):
        done = await attempt(False)
        if done is not None:
            return done
    async with translated, conn.transaction():
        await settings_store.hold_in_force(conn)
        done = await attempt(True)
    if done is None:
        raise AssertionError("a write holding the questionnaire in force and its row did not write")
    return done


async def _create(
    conn: AsyncConn, data: CustomerCreate, questionnaires: QuestionnaireCache, region: str, shape: Shape
) -> _Answer:
    errors: list[FieldError] = []
    phone = email = None
    try:
        phone = valid_phone(data.phone, region)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if data.email is not None:
        try:
            email = valid_email(data.email)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    statement = _CREATE[shape]
    just_read = False  # whether the cache holds what the database last answered

    async def attempt(locked: bool) -> _Answer | None:
        nonlocal just_read
        if locked:
            await questionnaires.refresh(conn)
            just_read = True
        q, profile, meta = await _validated(conn, questionnaires, data.profile, data.meta, errors, just_read=just_read)
        params = _created(data, phone, email, profile, meta)
        answer = await _write(conn, statement, params, shape, q, questionnaires)
        just_read = not answer.fresh
        return answer if answer.written else None

    answer = await _until_written(conn, attempt)
    if answer.row is not None:
        await notify_changed([answer.row], [])
    return answer


_BLOCKED_ON_CREATE: bool = create_defaults()["blocked"]


def _created(
    data: CustomerCreate,
    phone: str | None,
    email: str | None,
    profile: dict[str, Any] | None,
    meta: dict[str, Any] | None,
) -> dict[str, Any]:
    """A create's parameters, its validated phone, email, profile and meta given: every attribute
    is written, what the request left out with the create default (the model's)."""
    return {
        "phone": phone,
        "email": email,
        "email_confirmed": data.email_confirmed,
        "source_id": data.source_id,
        "blocked": _BLOCKED_ON_CREATE,
        "profile": Jsonb(profile),
        "meta": Jsonb(meta),
        "subscriptions": Jsonb(data.subscriptions),
        "loyalty_enabled": data.loyalty_enabled,
        "accept_tender_offer": data.accept_tender_offer,
        "prioritize_sms_verification": data.prioritize_sms_verification,
        "created": data.created,
    }


async def create_customer(
    conn: AsyncConn, data: CustomerCreate, q: Questionnaire | QuestionnaireCache, region: str
) -> dict[str, Any]:
    """Insert a customer in one statement; the unique index decides between concurrent creates of
    one phone.

    `q` is the questionnaire to validate against, or the process's cache of the one in force (no
    query of its own). Either way nothing validated against a questionnaire no longer in force is
    stored: the one in force is loaded (into the cache), the input validated again and the write
    retried."""
    answer = await _create(conn, data, _questionnaires(q), region, "row")
    assert answer.row is not None
    return answer.row


async def create_customer_json(
    conn: AsyncConn, data: CustomerCreate, questionnaires: QuestionnaireCache, region: str
) -> bytes:
    """`create_customer` answering the customer as the JSON document the lookups answer."""
    answer = await _create(conn, data, questionnaires, region, _shape(True))
    assert answer.document is not None
    return answer.document


# ---------------------------------------------------------------------------------------------
# Several writes in one statement: the creates or the updates a worker has waiting at one moment
# (service.write_batches). A batch's statement is its single statement made over arrays of the
# same parameters, one element a write; each row written is answered with its key (a create's
# phone, an update's id), unique in a batch. What a batch's statement cannot settle the way the
# single statement would is left out of it and made by the single statement: every answer is the
# one the write would have had alone.


# The connections that run batch statements are set up for them (`set_up_batch_connection`, as
# their pool makes them):
# - They plan each statement once. A batch's statement is prepared (psycopg prepares a statement
#   run often), and PostgreSQL plans a prepared statement again at each execution when a plan for
#   the given parameters looks cheaper than one for any: a plan for arrays of 2 rows always looks
#   cheaper than one for arrays of any size. Planning a batch's statement (its stored-form
#   conditions) costs more than the batch saves (bench/http/statements).
# - They wait for a row's lock briefly. A write waiting for a row another transaction holds (an
#   import's, for minutes) would hold up every write of its batch; a batch that cannot take its
#   locks at once is left to each of its writes, and only the write whose row is held waits.
_BATCH_SESSION = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', false), set_config('lock_timeout', '100ms', false)"
)


async def set_up_batch_connection(conn: AsyncConn) -> None:
    """Set up a connection that runs batch statements: plan once, wait for locks briefly."""
    await conn.execute(_BATCH_SESSION)


class _Array(list[Any]):
    """A batch's array parameter (subclasses by element type, `_ARRAY_OF`): dumped as an array of
    its column's type even when each element is null. psycopg keys its prepared statements by the
    parameters' types, which for a list of nulls would be unknown: a batch statement would be
    prepared, and planned, once for each pattern of attributes its writes leave out."""


def _array_type(kind: str) -> type[_Array]:
    info = postgres.types.get(kind)
    assert info is not None and info.array_oid, kind
    array = type(f"_{info.name.title()}Array", (_Array,), {})
    psycopg.adapters.register_dumper(array, psycopg.adapters.get_dumper_by_oid(info.array_oid, pq.Format.TEXT))
    return array


_ARRAY_OF = {kind: _array_type(kind) for kind in ("bigint", "boolean", "date", "jsonb", "text")}


def _refused_by_server(exc: psycopg.Error) -> bool:
    """Whether PostgreSQL refused a batch's statement, writing none of it, for a reason that may
    be one write's and not every write's: a row's value or a constraint (an email taken), a lock
    held by another transaction, a deadlock with another batch. A lost connection, a statement
    cancelled or timed out, an error of the driver are every write's: raised, as the single
    statement raises them."""
    if exc.sqlstate is None:
        return False
    if exc.sqlstate.startswith("40") or exc.sqlstate == "55P03":
        return True
    return not isinstance(exc, psycopg.OperationalError)


async def _write_many(
    conn: AsyncConn,
    statement: _Statement,
    params: dict[str, Any],
    shape: Shape,
    q: Questionnaire | None,
    questionnaires: QuestionnaireCache,
) -> dict[Any, bytes] | None:
    """Run a batch's statement: the JSON document of each row written, by its key. None when
    nothing was written: another questionnaire is in force (the cache adopts it), or PostgreSQL
    refused the statement for what may be one write's reason (`_refused_by_server`)."""
    params["q_version"] = None if q is None else q.version
    params["q_stamp"] = None if q is None else questionnaires.stamp
    async with translated:
        cur = AsyncRawCursor(conn)
        try:
            await cur.execute(statement.text, [params[name] for name in statement.names])
        except psycopg.Error as exc:
            if _refused_by_server(exc):
                return None
            raise
        written = await cur.fetchall()
    fresh, version, created_at, document = written[0][:4]
    if not fresh:
        questionnaires.adopt(version, created_at, document)
        return None
    documents: dict[Any, bytes] = {}
    changed: list[dict[str, Any]] = []
    for found in written:
        key, *record = found[4:]
        if key is None:
            continue  # nothing written
        documents[key] = record[-1].encode()
        if shape == "both":
            changed.append(dict(zip(_COLUMN_NAMES, record, strict=False)))
    if changed:
        await notify_changed(changed, [])
    return documents


def _arrays(columns: dict[str, str]) -> str:
    """`unnest`'s arguments: an array parameter per column, of its element type."""
    return ", ".join(f"%({name})s::{kind}[]" for name, kind in columns.items())


def _array_parameters(rows: list[dict[str, Any]], columns: dict[str, str]) -> dict[str, Any]:
    """The array parameters of `rows`, in their order. The rows are sorted by phone or id, so that
    batches planned alike take their rows' locks in one order; a deadlock all the same (over
    emails, or a plan scanning the table) leaves the batch to its writes, as a held lock does."""
    return {name: _ARRAY_OF[kind](row[name] for row in rows) for name, kind in columns.items()}


# A create's parameters in a batch; a row whose phone or email is taken (by a stored customer or
# another row of the batch) is left out by the insert, not an error.
_CREATE_ARRAYS = {
    "phone": "text", "email": "text", "email_confirmed": "boolean", "source_id": "text", "profile": "jsonb",
    "meta": "jsonb", "subscriptions": "jsonb", "loyalty_enabled": "boolean", "accept_tender_offer": "boolean",
    "prioritize_sms_verification": "boolean", "created": "date",
}  # fmt: skip
_CREATE_MANY_TEMPLATE = """
WITH {in_force},
written AS (
    INSERT INTO customers (phone, email, email_confirmed, source_id, blocked, profile, meta, subscriptions,
                           loyalty_enabled, accept_tender_offer, prioritize_sms_verification, created)
    SELECT u.phone, u.email, u.email_confirmed, u.source_id, %(blocked)s::boolean, u.profile, u.meta,
           u.subscriptions, u.loyalty_enabled, u.accept_tender_offer, u.prioritize_sms_verification,
           coalesce(u.created, current_date)
      FROM unnest({arrays}) AS u({columns})
     WHERE (SELECT fresh FROM in_force)
    ON CONFLICT DO NOTHING
    RETURNING phone, {returning}
)
SELECT {in_force_answer}, written.*
  FROM in_force LEFT JOIN written ON true"""
_CREATE_MANY: dict[Shape, _Statement] = {
    shape: _positional(
        _CREATE_MANY_TEMPLATE.format(
            in_force=_IN_FORCE,
            arrays=_arrays(_CREATE_ARRAYS),
            columns=", ".join(_CREATE_ARRAYS),
            returning=returning,
            in_force_answer=_IN_FORCE_ANSWER,
        )
    )
    for shape, returning in _RETURNING.items()
}


async def create_customers_json(
    conn: AsyncConn, batch: list[CustomerCreate], questionnaires: QuestionnaireCache, region: str
) -> list[bytes | None]:
    """The creates of `batch` in one statement, as far as they can be made in one: the JSON
    document of each customer written, in the batch's order, None for each create left to
    `create_customer_json`, which answers it (written or refused).

    A create is left out when the questionnaire this process holds refuses its input (the single
    create checks the version in force first), when its phone or email is taken, and when an
    earlier create of the batch has its phone. The whole batch is when another questionnaire is
    in force or PostgreSQL refuses one of its values."""
    q = questionnaires.current
    rows: list[dict[str, Any]] = []
    index_of: dict[str, int] = {}  # the batch's index of each row sent, by its phone
    for index, data in enumerate(batch):
        try:
            phone = valid_phone(data.phone, region)
            email = None if data.email is None else valid_email(data.email)
            profile, meta = _validate_parts(q, data.profile, data.meta)
        except ValidationFailed:
            continue
        if phone not in index_of:
            rows.append(_created(data, phone, email, profile, meta))
            index_of[phone] = index
    answers: list[bytes | None] = [None] * len(batch)
    if rows:
        shape = _shape(True)
        params = _array_parameters(sorted(rows, key=lambda row: row["phone"]), _CREATE_ARRAYS)
        params["blocked"] = _BLOCKED_ON_CREATE
        documents = await _write_many(conn, _CREATE_MANY[shape], params, shape, q, questionnaires)
        for phone, document in (documents or {}).items():
            answers[index_of[phone]] = document
    return answers


# An update's parameters in a batch: the single update's, for the updates that remove no key
# (a profile, meta or subscriptions key set to null; such updates are made alone). An attribute
# not given is null; profile and meta are merged into the stored ones and checked in the
# questionnaire's stored form, as the single update's first attempt does.
_UPDATE_ARRAYS = {
    "id": "bigint", "source_id": "text", "blocked": "boolean", "email": "text", "email_confirmed": "boolean",
    "profile": "jsonb", "meta": "jsonb", "subscriptions": "jsonb", "loyalty_enabled": "boolean",
    "accept_tender_offer": "boolean", "prioritize_sms_verification": "boolean", "created": "date",
}  # fmt: skip
_UPDATE_MANY_TEMPLATE = """
WITH {in_force},
merged AS (
    SELECT g.*, c.xmin AS merged_xmin,
           CASE WHEN g.g_profile IS NULL THEN c.profile ELSE c.profile || g.g_profile END AS new_profile,
           CASE WHEN g.g_meta IS NULL THEN c.meta ELSE c.meta || g.g_meta END AS new_meta
      FROM unnest({arrays}) AS g({columns})
      JOIN customers AS c ON c.id = g.g_id
),
written AS (
    UPDATE customers
       SET source_id = coalesce(g_source_id, source_id),
           blocked = coalesce(g_blocked, blocked),
           email = coalesce(g_email, email),
           email_confirmed = coalesce(g_email_confirmed,
                                      CASE WHEN g_email IS NOT NULL AND g_email IS DISTINCT FROM email
                                           THEN false ELSE email_confirmed END),
           profile = new_profile,
           meta = new_meta,
           subscriptions = subscriptions || g_subscriptions,
           loyalty_enabled = coalesce(g_loyalty_enabled, loyalty_enabled),
           accept_tender_offer = coalesce(g_accept_tender_offer, accept_tender_offer),
           prioritize_sms_verification = coalesce(g_prioritize_sms_verification, prioritize_sms_verification),
           created = coalesce(g_created, created),
           updated_at = now()
      FROM merged
     WHERE id = g_id
       AND xmin = merged_xmin
       AND (SELECT fresh FROM in_force)
       AND (g_profile IS NULL OR {profile_form}) AND (g_meta IS NULL OR {meta_form})
    RETURNING id, {returning}
)
SELECT {in_force_answer}, written.*
  FROM in_force LEFT JOIN written ON true"""


@lru_cache(maxsize=16)
def _update_many_sql(q: Questionnaire, shape: Shape) -> _Statement:
    return _update_statement(
        _UPDATE_MANY_TEMPLATE,
        q,
        shape,
        arrays=_arrays(_UPDATE_ARRAYS),
        columns=", ".join(f"g_{name}" for name in _UPDATE_ARRAYS),
    )


def _attributes(data: CustomerUpdate, email: str | None) -> dict[str, Any]:
    """An update's attribute parameters, its validated email given (null: not given, kept)."""
    return {
        "source_id": data.source_id,
        "blocked": data.blocked,
        "email": email,
        "email_confirmed": data.email_confirmed,
        "loyalty_enabled": data.loyalty_enabled,
        "accept_tender_offer": data.accept_tender_offer,
        "prioritize_sms_verification": data.prioritize_sms_verification,
        "created": data.created,
    }


def _removes(data: CustomerUpdate) -> bool:
    """Whether the update removes a key of the profile, the meta or the subscriptions."""
    return any(None in part.values() for part in (data.profile, data.meta, data.subscriptions) if part)


async def update_customers_json(
    conn: AsyncConn, batch: list[tuple[int, CustomerUpdate]], questionnaires: QuestionnaireCache
) -> list[bytes | None]:
    """The updates of `batch` (customer id, update) in one statement, as far as they can be made
    in one: the JSON document of each customer written, in the batch's order, None for each
    update left to `update_customer_json`, which answers it (written or refused).

    An update is left out when it removes a key, when the questionnaire this process holds
    refuses a value it gives, when the merge is not in the questionnaire's stored form (the single
    update validates it), when its customer does not exist or changes meanwhile, and when an
    earlier update of the batch is of its customer. The whole batch is when another questionnaire
    is in force or PostgreSQL refuses one of its values (an email taken)."""
    q = questionnaires.current
    profile_model, meta_model = _patch_models(q)
    rows: list[dict[str, Any]] = []
    index_of: dict[int, int] = {}  # the batch's index of each row sent, by its customer's id
    with_questionnaire = False  # whether an update of the batch gives profile or meta keys
    for index, (customer_id, data) in enumerate(batch):
        if customer_id in index_of or _removes(data):
            continue
        try:
            email = None if data.email is None else valid_email(data.email)
        except ValidationFailed:
            continue
        profile = _patch_part(profile_model, data.profile)
        meta = _patch_part(meta_model, data.meta)
        if profile is None or meta is None:
            continue
        with_questionnaire = with_questionnaire or data.profile is not None or data.meta is not None
        rows.append(
            {
                "id": customer_id,
                **_attributes(data, email),
                "profile": profile[0],
                "meta": meta[0],
                "subscriptions": Jsonb(data.subscriptions or {}),
            }
        )
        index_of[customer_id] = index
    answers: list[bytes | None] = [None] * len(batch)
    if rows:
        shape = _shape(True)
        params = _array_parameters(sorted(rows, key=lambda row: row["id"]), _UPDATE_ARRAYS)
        checked_by = q if with_questionnaire else None
        documents = await _write_many(conn, _update_many_sql(q, shape), params, shape, checked_by, questionnaires)
        for customer_id, document in (documents or {}).items():
            answers[index_of[customer_id]] = document
    return answers


async def _read_stored(conn: AsyncConn, customer_id: int, *, locked: bool = False) -> _Stored:
    async with translated:
        cur = await conn.execute(_STORED_PARTS_LOCKED if locked else _STORED_PARTS, (customer_id,))
        found = await cur.fetchone()
    if found is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    return _Stored(*found)


async def _update(
    conn: AsyncConn, customer_id: int, data: CustomerUpdate, questionnaires: QuestionnaireCache, shape: Shape
) -> _Answer:
    subscriptions = data.subscriptions or {}
    base = {
        "id": customer_id,
        **_attributes(data, None if data.email is None else valid_email(data.email)),
        "subscriptions_removed": [key for key, value in subscriptions.items() if value is None],
        "subscriptions_set": Jsonb({key: value for key, value in subscriptions.items() if value is not None}),
        "seen": None,
    }
    if data.profile is None and data.meta is None:
        # no questionnaire involved: one statement, nothing to check; made again when the row
        # changed between the statement's snapshot and its write (a concurrent write it waited for)

        async def attempt_attributes(locked: bool) -> _Answer | None:
            if locked:
                await _read_stored(conn, customer_id, locked=True)
            params = {**base, **_NOT_GIVEN, "checked": True}
            answer = await _write(conn, _update_sql(questionnaires.current, shape), params, shape, None, questionnaires)
            if not answer.written and answer.stored is None:
                raise CustomerNotFound(f"customer {customer_id} does not exist")
            return answer if answer.written else None

        answer = await _until_written(conn, attempt_attributes)
        if answer.row is not None:
            await notify_changed([answer.row], [])
        return answer

    stored: _Stored | None = None  # the stored parts once known, to validate the merge here
    just_read = False  # whether the cache holds what the database last answered

    async def attempt(locked: bool) -> _Answer | None:
        nonlocal stored, just_read
        if locked:
            stored = await _read_stored(conn, customer_id, locked=True)
            await questionnaires.refresh(conn)
            just_read = True
        if stored is None:
            q = questionnaires.current
            profile_model, meta_model = _patch_models(q)
            profile_part = _patch_part(profile_model, data.profile)
            meta_part = _patch_part(meta_model, data.meta)
            if profile_part is None or meta_part is None:
                stored = await _read_stored(conn, customer_id)  # refused: the whole answer comes from the merge
            else:
                # the merge made and checked by the statement
                params = {
                    **base,
                    "profile": profile_part[0],
                    "profile_removed": profile_part[1],
                    "meta": meta_part[0],
                    "meta_removed": meta_part[1],
                    "checked": False,
                }
                answer = await _write(conn, _update_sql(q, shape), params, shape, q, questionnaires)
                just_read = True
                if answer.written or not answer.fresh:
                    return answer if answer.written else None
                if answer.stored is None:
                    raise CustomerNotFound(f"customer {customer_id} does not exist")
                stored = answer.stored
        # the merge validated here as a whole, written if the row is still as read
        q, profile, meta = await _validated(
            conn,
            questionnaires,
            _merge(stored.profile, data.profile) if data.profile is not None else None,
            _merge(stored.meta, data.meta) if data.meta is not None else None,
            [],
            just_read=just_read,
        )
        params = {
            **base,
            **_NOT_GIVEN,
            "profile": None if profile is None else Jsonb(profile),
            "meta": None if meta is None else Jsonb(meta),
            "seen": stored.xmin,
            "checked": True,
        }
        answer = await _write(conn, _update_sql(q, shape), params, shape, q, questionnaires)
        just_read = not answer.fresh
        if answer.written:
            return answer
        if answer.fresh:
            stored = None  # changed (or deleted) since it was read: start again
        return None

    answer = await _until_written(conn, attempt)
    if answer.row is not None:
        await notify_changed([answer.row], [])
    return answer


async def update_customer(
    conn: AsyncConn, customer_id: int, data: CustomerUpdate, q: Questionnaire | QuestionnaireCache
) -> dict[str, Any]:
    """Apply a partial update; the merged profile is validated as a whole. `q` as for
    `create_customer`."""
    answer = await _update(conn, customer_id, data, _questionnaires(q), "row")
    assert answer.row is not None
    return answer.row


async def update_customer_json(
    conn: AsyncConn, customer_id: int, data: CustomerUpdate, questionnaires: QuestionnaireCache
) -> bytes:
    """`update_customer` answering the customer as the JSON document the lookups answer."""
    answer = await _update(conn, customer_id, data, questionnaires, _shape(True))
    assert answer.document is not None
    return answer.document
