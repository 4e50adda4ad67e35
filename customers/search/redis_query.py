"""A query plan as a RediSearch query string; every user value is escaped, so no input changes
the query's structure."""

from __future__ import annotations

from typing import Any

from customers.search.plan import Clause, QueryPlan
from customers.search.schema import HAS_ATTR, NUM_SENTINEL_TEXT, PREFIX_TAG_MAX, IndexField


def query_string(plan: QueryPlan) -> str:
    """The query string; every user value is escaped.

    RediSearch 1.2 answers 0 hits for two negations side by side (`-@a:{x} -@b:{y}`), so
    all negations go into one negated union (`-((@a:{x}) | (@b:{y}))`); it also refuses
    unions of field-qualified parts without parentheses around each alternative."""
    parts = [escape_term(w) for w in plan.words]
    if plan.prefix is not None:
        parts.append(_any_prefix(plan.text_fields, plan.prefix))
    negated: list[str] = []
    for clause in plan.clauses:
        negative, expr = _redis_clause(clause)
        if expr:
            (negated if negative else parts).append(expr)
    if negated:
        parts.append("-" + _union(negated))
    return " ".join(parts) or "*"


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
