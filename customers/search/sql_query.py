"""A query plan as PostgreSQL: a WHERE clause over `customers` with bound parameters, and the
order of its pages, over the same normalised values as the index (see `schema`)."""

from __future__ import annotations

from typing import Any

from customers.search.plan import Clause, QueryPlan


def where_clause(plan: QueryPlan) -> tuple[str, list[Any]]:
    """A WHERE clause over `customers` and its parameters."""
    conds: list[str] = []
    params: list[Any] = []
    if plan.words or plan.prefix is not None:
        joined = f"regexp_split_to_array(concat_ws(' ', {', '.join(f.value_sql() for f in plan.text_fields)}), ' ')"
        if plan.words:
            conds.append(f"{joined} @> %s::text[]")
            params.append(plan.words)
        if plan.prefix is not None:
            conds.append(f"EXISTS (SELECT 1 FROM unnest({joined}) AS t(w) WHERE starts_with(w, %s))")
            params.append(plan.prefix)
    for clause in plan.clauses:
        sql, values = _sql_clause(clause)
        conds.append(sql)
        params += values
    return (" AND ".join(conds) or "TRUE"), params


def order_by(plan: QueryPlan) -> str:
    """The ORDER BY of a page: the sort value, then id (as the index's pages are put)."""
    direction = "DESC" if plan.desc else "ASC"
    if plan.sort.key == "id":
        # never null: the column's own order is the sort value's, and the primary key's index
        # serves it (a first page reads 20 entries instead of sorting every match)
        return f"id {direction}"
    return f"{plan.sort.sort_sql()} {direction}, id"


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
