"""The stored form of a questionnaire's profile or meta object, in SQL.

`stored_form` is a condition that holds only where validating the object against the
questionnaire (`Questionnaire.validate_profile` / `validate_meta`) would accept it and give it
back as it is. It may be false where the validation would accept (the update then validates the
merge itself, `customers.customer_writes`); it is never true where the validation would refuse or
change a value.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from customers.questionnaire_document import FieldSpec

_DIGITS_EXACT_IN_A_FLOAT = 15


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_text_array(items: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(_sql_text(item) for item in items) + "]::text[]" if items else "'{}'::text[]"


def _sql_number(value: float) -> str:
    return repr(float(value))


def _length_checks(length: str, spec: FieldSpec) -> list[str]:
    checks = []
    if spec.min_length is not None:
        checks.append(f"{length} >= {spec.min_length}")
    if spec.max_length is not None:
        checks.append(f"{length} <= {spec.max_length}")
    return checks


def _bound_checks(number: str, spec: FieldSpec) -> list[str]:
    checks = []
    if spec.min is not None:
        checks.append(f"{number} >= {_sql_number(spec.min)}")
    if spec.max is not None:
        checks.append(f"{number} <= {_sql_number(spec.max)}")
    return checks


def _guarded(guard: str, checks: list[str]) -> str:
    # CASE, not AND: PostgreSQL does not promise to evaluate AND's operands in order, and a check
    # may cast what the guard has not vouched for yet
    if not checks:
        return f"({guard})"
    return f"(CASE WHEN {guard} THEN {' AND '.join(checks)} ELSE false END)"


def _in_stored_form_value(spec: FieldSpec, item: str) -> str:
    """The condition on one present value (`item`, a jsonb expression) of the field `spec`."""
    text = f"({item} #>> '{{}}')"
    match spec.type:
        case "string" | "text" if spec.pattern is None:
            return _guarded(f"jsonb_typeof({item}) = 'string'", _length_checks(f"char_length({text})", spec))
        case "integer":
            # integers a float compares exactly (the bounds are floats), written as such
            digits = _DIGITS_EXACT_IN_A_FLOAT
            guard = f"jsonb_typeof({item}) = 'number' AND {text} ~ '^-?[0-9]{{1,{digits}}}$'"
            return _guarded(guard, _bound_checks(f"({item})::numeric", spec))
        case "decimal":
            # a float written as the validation writes one: a fraction without trailing zeros (or
            # `.0`), digits a float holds exactly
            pattern = r"^-?[0-9]+\.([0-9]*[1-9]|0)$"
            guard = (
                f"jsonb_typeof({item}) = 'number' AND {text} ~ '{pattern}'"
                f" AND char_length(translate({text}, '-.', '')) <= {_DIGITS_EXACT_IN_A_FLOAT}"
            )
            return _guarded(guard, _bound_checks(f"({item})::numeric", spec))
        case "boolean":
            return f"(jsonb_typeof({item}) = 'boolean')"
        case "date":
            # YYYY-MM-DD of a day that exists (years 1 to 9999)
            guard = (
                f"jsonb_typeof({item}) = 'string'"
                f" AND {text} ~ '^[0-9]{{4}}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'"
                f" AND left({text}, 4) <> '0000'"
            )
            last_day = (
                f"extract(day FROM make_date(left({text}, 4)::integer, substr({text}, 6, 2)::integer, 1)"
                " + interval '1 month - 1 day')"
            )
            return _guarded(guard, [f"substr({text}, 9, 2)::integer <= {last_day}"])
        case "enum":
            options = _sql_text(orjson.dumps(spec.options or []).decode())
            return f"(jsonb_typeof({item}) = 'string' AND {item} <@ {options}::jsonb)"
        case "list" if spec.items == "enum":
            options = _sql_text(orjson.dumps(spec.options or []).decode())
            checks = [f"{item} <@ {options}::jsonb", *_length_checks(f"jsonb_array_length({item})", spec)]
            return _guarded(f"jsonb_typeof({item}) = 'array'", checks)
        case "list" if spec.pattern is None:
            checks = [
                f"NOT jsonb_path_exists({item}, '$[*] ? (@.type() != \"string\")')",
                *_length_checks(f"jsonb_array_length({item})", spec),
            ]
            return _guarded(f"jsonb_typeof({item}) = 'array'", checks)
    # patterns (PostgreSQL's regular expressions are not the validation's), emails, datetimes
    return "false"


def stored_form(specs: Sequence[FieldSpec], value: str) -> str:
    """The condition, in SQL, that a profile or meta object (`value`, a jsonb expression) is in
    the stored form of the fields `specs`: every key known, every required key present, every
    value of its field's type, constraints and normal form."""
    keys = [spec.key for spec in specs]
    conditions = [f"({value} - {_sql_text_array(keys)}) = '{{}}'::jsonb"]
    required = [spec.key for spec in specs if spec.required]
    if required:
        conditions.append(f"{value} ?& {_sql_text_array(required)}")
    for spec in specs:
        item = f"({value} -> {_sql_text(spec.key)})"
        conditions.append(f"({item} IS NULL OR {_in_stored_form_value(spec, item)})")
    return "(" + "\n            AND ".join(conditions) + ")"
