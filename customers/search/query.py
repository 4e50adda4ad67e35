"""A find request: its validation against the schema, and its rendering for both engines.

`plan()` checks everything RediSearch would get silently wrong (unknown fields give 0 hits,
unsortable sort keys give unsorted pages, a wrong syntax for a field type gives 0 hits) and
raises ValidationFailed (422) instead. A `Plan` then renders to a RediSearch query string, with
every user value escaped, or to a PostgreSQL WHERE clause with bound parameters, over the same
normalised values (see `schema`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from customers.contacts import InvalidPhone, normalize_phone
from customers.errors import FieldError, ValidationCode, ValidationFailed
from customers.questionnaire import parse_date, parse_datetime
from customers.search.schema import (
    HAS_ATTR,
    NUM_SENTINEL_TEXT,
    NUMBER_LIMIT,
    PREFIX_MIN,
    PREFIX_TAG_MAX,
    SEP,
    TEXT_SENTINEL,
    IndexField,
    IndexSchema,
)

Condition = Literal["eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "prefix", "contains", "exists"]
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


class Filter(BaseModel):
    """One condition: `kind` is a field key (`city`, `phone`, `meta.legacy_id`)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | StrictInt | None = Field(default=None, description="The caller's own label, echoed in errors")
    kind: StrictStr
    condition: Condition
    value: Any = None


class FindRequest(BaseModel):
    """Free text over the text fields (prefix on the last word), filters, a page and an order."""

    model_config = ConfigDict(extra="forbid")

    query: StrictStr | None = None
    filters: list[Filter] = Field(default_factory=list)
    offset: StrictInt = Field(default=0, ge=0)
    limit: StrictInt = Field(default=20, ge=0)
    sort_key: StrictStr | None = Field(default=None, description="A sortable field; default id")
    sort_order: Literal["asc", "desc"] = "asc"


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
class Plan:
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

    # -- RediSearch -----------------------------------------------------------------------

    def redis_query(self) -> str:
        """The query string; every user value is escaped.

        RediSearch 1.2 answers 0 hits for two negations side by side (`-@a:{x} -@b:{y}`), so
        all negations go into one negated union (`-((@a:{x}) | (@b:{y}))`); it also refuses
        unions of field-qualified parts without parentheses around each alternative."""
        parts = [escape_term(w) for w in self.words]
        if self.prefix is not None:
            parts.append(_any_prefix(self.text_fields, self.prefix))
        negated: list[str] = []
        for clause in self.clauses:
            negative, expr = _redis_clause(clause)
            if expr:
                (negated if negative else parts).append(expr)
        if negated:
            parts.append("-" + _union(negated))
        return " ".join(parts) or "*"

    # -- PostgreSQL -----------------------------------------------------------------------

    def sql_where(self) -> tuple[str, list[Any]]:
        """A WHERE clause over `customers` and its parameters."""
        conds: list[str] = []
        params: list[Any] = []
        if self.words or self.prefix is not None:
            joined = f"regexp_split_to_array(concat_ws(' ', {', '.join(f.value_sql() for f in self.text_fields)}), ' ')"
            if self.words:
                conds.append(f"{joined} @> %s::text[]")
                params.append(self.words)
            if self.prefix is not None:
                conds.append(f"EXISTS (SELECT 1 FROM unnest({joined}) AS t(w) WHERE starts_with(w, %s))")
                params.append(self.prefix)
        for clause in self.clauses:
            sql, values = _sql_clause(clause)
            conds.append(sql)
            params += values
        return (" AND ".join(conds) or "TRUE"), params

    def sql_order(self) -> str:
        direction = "DESC" if self.desc else "ASC"
        tie = "" if self.sort.key == "id" else ", id"
        return f"{self.sort.sort_sql()} {direction}{tie}"


# ---------------------------------------------------------------------------------------------
# Escaping


def escape_tag(value: str) -> str:
    """Backslash-escape every ASCII character that is not a letter, digit or `_` (spaces too):
    unescaped `+`, `-`, `.`, `@` change a tag query's meaning or break it. Non-ASCII characters
    are never syntax, and the parser escapes single bytes: a backslash before a multi-byte
    character (`№`) makes the value match nothing."""
    return "".join(ch if ch.isalnum() or ch == "_" or ord(ch) > 127 else "\\" + ch for ch in value)


def escape_term(word: str) -> str:
    return "".join(ch if ch.isalnum() or ord(ch) > 127 else "\\" + ch for ch in word)


def _number(value: float) -> str:
    # the query parser takes no exponent notation
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _union(alternatives: list[str]) -> str:
    return "(" + " | ".join(f"({a})" for a in alternatives) + ")"


def _tags(attr: str, values: tuple[Any, ...]) -> str:
    return f"@{attr}:{{{' | '.join(escape_tag(v) for v in values)}}}"


def _prefix_tag(f: IndexField, prefix: str) -> str:
    """Exact prefix-tag lookup; beyond the indexed prefix length, the indexed head narrows the
    set and the server's own prefix expansion (then tiny) finishes."""
    head = _tags(f.prefix_attr, (prefix[:PREFIX_TAG_MAX],))
    if len(prefix) <= PREFIX_TAG_MAX:
        return head
    if f.kind == "text":
        return f"{head} @{f.attr}:{escape_term(prefix)}*"
    return f"{head} @{f.attr}:{{{escape_tag(prefix)}*}}"


def _any_prefix(fields: list[IndexField], prefix: str) -> str:
    head = _union([_tags(f.prefix_attr, (prefix[:PREFIX_TAG_MAX],)) for f in fields])
    if len(prefix) <= PREFIX_TAG_MAX:
        return head
    return f"{head} {escape_term(prefix)}*"


def _range(f: IndexField, lo: str, hi: str) -> str:
    return f"@{f.attr}:[{lo} {hi}]"


_OPEN_HI = "(" + NUM_SENTINEL_TEXT  # open upper bounds stop below the missing-value sentinel


def _redis_clause(c: Clause) -> tuple[bool, str]:
    """(negated, expression) of one condition."""
    f, v = c.field, c.values
    if c.condition == "exists":
        if not f.nullable:
            return False, ("" if v[0] else _tags(HAS_ATTR, ("_never_",)))
        return (not v[0]), _tags(HAS_ATTR, (f.attr,))
    if f.kind == "numeric":
        match c.condition:
            case "eq":
                return False, _range(f, _number(v[0]), _number(v[0]))
            case "ne":
                # two ranges, never a negation (see schema.NUM_SENTINEL); missing values hold
                # the sentinel, so they are included, as with IS DISTINCT FROM
                x = _number(v[0])
                return False, _union([_range(f, "-inf", "(" + x), _range(f, "(" + x, "+inf")])
            case "gt":
                return False, _range(f, "(" + _number(v[0]), _OPEN_HI)
            case "gte":
                return False, _range(f, _number(v[0]), _OPEN_HI)
            case "lt":
                return False, _range(f, "-inf", "(" + _number(v[0]))
            case "lte":
                return False, _range(f, "-inf", _number(v[0]))
            case "between":
                return False, _range(f, _number(v[0]), _number(v[1]))
            case "in":
                return False, _union([_range(f, _number(x), _number(x)) for x in v])
    if f.kind == "text":
        whole = f"@{f.attr}:({' '.join(escape_term(w) for w in v[0])})" if v[0] else ""
        if c.condition == "contains":
            return False, whole
        return False, f"{whole} {_prefix_tag(f, v[1])}".strip()
    match c.condition:
        case "eq" | "contains" | "in":
            return False, _tags(f.attr, v)
        case "ne":
            return True, _tags(f.attr, v)
        case "prefix":
            return False, _prefix_tag(f, v[0])
    raise AssertionError(c.condition)


def _sql_clause(c: Clause) -> tuple[str, list[Any]]:
    f, v = c.field, c.values
    value = f.value_sql()
    if c.condition == "exists":
        return (f.present_sql() if v[0] else f"NOT ({f.present_sql()})"), []
    if f.kind == "numeric":
        ops = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        if c.condition in ops:
            return f"{value} {ops[c.condition]} %s", [v[0]]
        if c.condition == "ne":
            return f"{value} IS DISTINCT FROM %s", [v[0]]
        if c.condition == "between":
            return f"{value} BETWEEN %s AND %s", [v[0], v[1]]
        return f"{value} = ANY(%s::float8[])", [list(v)]
    if f.kind == "text":
        whole = f"regexp_split_to_array({value}, ' ') @> %s::text[]"
        if c.condition == "contains":
            return whole, [list(v[0])]
        prefix = f"EXISTS (SELECT 1 FROM regexp_split_to_table({value}, ' ') AS t(w) WHERE starts_with(w, %s))"
        if not v[0]:
            return prefix, [v[1]]
        return f"({whole} AND {prefix})", [list(v[0]), v[1]]
    if f.is_list:
        match c.condition:
            case "eq" | "contains":
                return f"%s = ANY({value})", [v[0]]
            case "ne":
                return f"NOT (%s = ANY({value}))", [v[0]]
            case "in":
                return f"{value} && %s::text[]", [list(v)]
    match c.condition:
        case "eq":
            return f"{value} = %s", [v[0]]
        case "ne":
            return f"{value} IS DISTINCT FROM %s", [v[0]]
        case "in":
            return f"{value} = ANY(%s::text[])", [list(v)]
        case "prefix":
            return f"starts_with({value}, %s)", [v[0]]
    raise AssertionError(c.condition)


# ---------------------------------------------------------------------------------------------
# Validation


class _Invalid(Exception):
    def __init__(self, code: ValidationCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def plan(request: FindRequest, schema: IndexSchema, *, max_window: int, region: str) -> Plan:
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
    return Plan(
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
