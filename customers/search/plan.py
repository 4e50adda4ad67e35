"""A find request validated against the index schema: a `QueryPlan`.

`plan_query()` checks everything RediSearch would get silently wrong (unknown fields give 0
hits, unsortable sort keys give unsorted pages, a wrong syntax for a field type gives 0 hits)
and raises ValidationFailed (422) instead. The plan holds the normalised values (see `schema`)
that both renderers use: `redis_query` (a RediSearch query string) and `sql_query` (a
PostgreSQL WHERE clause and order).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticCustomError

from customers.contacts import InvalidPhone, normalize_phone
from customers.errors import FieldError, ValidationCode, ValidationFailed
from customers.questionnaire import parse_date, parse_datetime
from customers.search.request import FindRequest
from customers.search.schema import NUMBER_LIMIT, PREFIX_MIN, SEP, TEXT_SENTINEL, IndexField, IndexSchema

MAX_LIMIT = 1000
MAX_IN_VALUES = 1000
MAX_FILTERS = 50

_CONDITIONS: dict[str, set[str]] = {
    "text": {"contains", "prefix", "exists"},
    "tag": {"eq", "ne", "in", "exists", "prefix"},
    "list": {"eq", "contains", "ne", "in", "exists"},
    "numeric": {"eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "exists"},
}
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased words, as the index holds them."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Clause:
    """One validated condition with normalised values."""

    field: IndexField
    condition: str
    values: tuple[Any, ...] = ()


@dataclass
class QueryPlan:
    """A validated find request."""

    words: list[str]
    prefix: str | None
    clauses: list[Clause]
    sort: IndexField
    desc: bool
    offset: int
    limit: int
    text_fields: list[IndexField] = field(default_factory=list)

    def fields_used(self) -> list[IndexField]:
        used = [c.field for c in self.clauses] + [self.sort]
        if self.words or self.prefix:
            used += self.text_fields
        return used


class _Invalid(Exception):
    def __init__(self, code: ValidationCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def plan_query(request: FindRequest, schema: IndexSchema, *, max_window: int, region: str) -> QueryPlan:
    """Validate a request against the schema; every problem is a field error (422)."""
    errors: list[FieldError] = []

    def fail(name: str, code: ValidationCode, message: str, value: Any = None) -> None:
        errors.append(FieldError(name, code, message, value))

    if request.limit > MAX_LIMIT:
        fail("limit", "NUMBER_CONSTRAINT", f"limit may not exceed {MAX_LIMIT}", request.limit)
    if request.offset + request.limit > max_window:
        fail(
            "offset",
            "NUMBER_CONSTRAINT",
            f"offset + limit may not exceed {max_window}: narrow the filters instead of paging deeper",
            request.offset,
        )
    if len(request.filters) > MAX_FILTERS:
        fail("filters", "LENGTH_CONSTRAINT", f"at most {MAX_FILTERS} filters")

    by_key = schema.by_key
    sort_key = request.sort_key or "id"
    sort = by_key.get(sort_key)
    if sort is None:
        fail("sort_key", "UNKNOWN_FIELD", f"{sort_key!r} is not a searchable field", sort_key)
    elif not sort.sortable:
        fail("sort_key", "TYPE_MISMATCH", f"{sort_key!r} is not sortable", sort_key)

    query_words: list[str] = []
    prefix: str | None = None
    if request.query is not None and request.query.strip():
        if not schema.text_fields:
            fail("query", "UNKNOWN_FIELD", "the questionnaire has no text fields to search")
        found = words(request.query)
        if _has_forbidden(request.query):
            fail("query", "INVALID_FORMAT", "the query contains control characters")
        elif found:
            *query_words, last = found
            if len(last) >= PREFIX_MIN:
                prefix = last
            else:
                query_words.append(last)

    clauses: list[Clause] = []
    for i, flt in enumerate(request.filters):
        name = f"filters[{i}]" if flt.id is None else f"filters[{i}] ({flt.id})"
        f = by_key.get(flt.kind)
        if f is None:
            fail(f"{name}.kind", "UNKNOWN_FIELD", f"{flt.kind!r} is not a searchable field", flt.kind)
            continue
        family = "list" if f.is_list else f.kind
        allowed = set(_CONDITIONS[family])
        if family == "tag" and not f.prefixable:
            allowed.discard("prefix")
        if flt.condition not in allowed:
            fail(
                f"{name}.condition",
                "TYPE_MISMATCH",
                f"{flt.condition!r} does not fit {f.key!r} ({_describe(f)}); use one of {', '.join(sorted(allowed))}",
                flt.condition,
            )
            continue
        try:
            clauses.append(Clause(f, flt.condition, _values(f, flt.condition, flt.value, region)))
        except _Invalid as exc:
            fail(f"{name}.value", exc.code, exc.message, flt.value)
    if errors:
        raise ValidationFailed(errors)
    assert sort is not None
    return QueryPlan(
        query_words,
        prefix,
        clauses,
        sort,
        request.sort_order == "desc",
        request.offset,
        request.limit,
        schema.text_fields,
    )


def _describe(f: IndexField) -> str:
    if f.is_list:
        return "a list"
    return {"text": "a text field", "tag": "an exact-value field", "numeric": "a number/date field"}[f.kind]


def _has_forbidden(text: str) -> bool:
    return SEP in text or TEXT_SENTINEL in text or "\x00" in text


def _values(f: IndexField, condition: str, value: Any, region: str) -> tuple[Any, ...]:
    """Normalise a filter value the way the index holds values."""
    if condition == "exists":
        if value is None:
            return (True,)
        if not isinstance(value, bool):
            raise _Invalid("TYPE_MISMATCH", "exists takes true or false")
        return (value,)
    if condition == "in":
        if not isinstance(value, list) or not value:
            raise _Invalid("TYPE_MISMATCH", "'in' takes a non-empty list of values")
        if len(value) > MAX_IN_VALUES:
            raise _Invalid("LENGTH_CONSTRAINT", f"'in' takes at most {MAX_IN_VALUES} values")
        return tuple(dict.fromkeys(_scalar(f, item, region) for item in value))
    if condition == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise _Invalid("TYPE_MISMATCH", "'between' takes a list of two values [low, high]")
        lo, hi = _scalar(f, value[0], region), _scalar(f, value[1], region)
        if lo > hi:
            raise _Invalid("NUMBER_CONSTRAINT", "'between' needs low <= high")
        return (lo, hi)
    if f.kind == "text":
        if not isinstance(value, str) or _has_forbidden(value):
            raise _Invalid("TYPE_MISMATCH", "a text value is expected")
        found = words(value)
        if not found:
            raise _Invalid("INVALID_FORMAT", "the value has no words")
        if condition == "contains":
            return (tuple(found),)
        *whole, last = found
        if len(last) < PREFIX_MIN:
            raise _Invalid("LENGTH_CONSTRAINT", f"a prefix needs at least {PREFIX_MIN} characters")
        return (tuple(whole), last)
    if condition == "prefix":
        text = _scalar(f, value, region)
        if len(text) < PREFIX_MIN:
            raise _Invalid("LENGTH_CONSTRAINT", f"a prefix needs at least {PREFIX_MIN} characters")
        return (text,)
    return (_scalar(f, value, region),)


def _scalar(f: IndexField, value: Any, region: str) -> Any:
    if f.kind == "numeric":
        return _numeric(f, value)
    if f.type == "boolean":
        if not isinstance(value, bool):
            raise _Invalid("TYPE_MISMATCH", "true or false is expected")
        return "true" if value else "false"
    if not isinstance(value, str):
        raise _Invalid("TYPE_MISMATCH", "a string is expected")
    if _has_forbidden(value):
        raise _Invalid("INVALID_FORMAT", "the value contains control characters")
    if f.type == "phone":
        try:
            return normalize_phone(value, region)
        except InvalidPhone as exc:
            raise _Invalid("INVALID_FORMAT", str(exc)) from None
    if f.options is not None and value not in f.options:
        raise _Invalid("INVALID_ENUM_VALUE", f"{value!r} is not one of {', '.join(f.options)}")
    text = value.strip().lower()
    if not text:
        raise _Invalid("INVALID_FORMAT", "an empty value is not searchable")
    return text


def _numeric(f: IndexField, value: Any) -> float:
    try:
        if f.type == "date":
            if isinstance(value, int) and not isinstance(value, bool):
                raise PydanticCustomError("TYPE_MISMATCH", "a date string is expected")
            day: dt.date = parse_date(value)
            return float(day.year * 10000 + day.month * 100 + day.day)
        if f.type == "datetime":
            moment: dt.datetime = parse_datetime(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return round(moment.timestamp(), 6)
    except PydanticCustomError as exc:
        raise _Invalid(exc.type, exc.message()) from None  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid("TYPE_MISMATCH", "a number is expected")
    if value != value or abs(value) >= NUMBER_LIMIT:
        raise _Invalid("NUMBER_CONSTRAINT", f"numbers must be finite and below {NUMBER_LIMIT:.0e}")
    if f.type == "id" and value != int(value):
        raise _Invalid("TYPE_MISMATCH", "an integer is expected")
    # six decimals: what the query string carries, so both engines compare the same number
    return round(float(value), 6)
