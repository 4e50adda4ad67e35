"""The checks of one column, as polars expressions over a whole frame.

For a questionnaire field or a core customer column, a `ColumnCheck` gives every cell's typed
value, error code and message, by the rules and with the codes of the HTTP model
(`customers.questionnaire`). Phones, emails and datetimes are not checked by expressions: their
columns are worked out over the whole column first (`prepared_columns`), and their checks read
those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from pydantic import TypeAdapter, ValidationError

from customers.contacts import INVALID_EMAIL
from customers.questionnaire import DATE_FORMATS, field_annotation, field_errors
from customers.questionnaire_document import FieldSpec
from etl.contacts import bulk_emails, bulk_phones

# the types core customer columns are checked as: questionnaire types, and "phone", which only
# the core column has (a core column with rules of its own, source_id, has a FieldSpec instead)
CoreKind = Literal["phone", "email", "boolean", "date"]
TRUE_WORDS = ("true", "1", "да")
FALSE_WORDS = ("false", "0", "нет")


@dataclass(frozen=True)
class ColumnCheck:
    """What one file column yields: its typed value and its error code/message, cell by cell."""

    column: str  # the file's column name (after mapping), as reported in rejects
    target: str  # "phone", "email", ... or "profile.<key>" / "meta.<key>"
    value: pl.Expr  # the typed value (null when empty or invalid)
    code: pl.Expr  # the error code, null when the cell is fine
    message: pl.Expr  # a readable message, null when the cell is fine


def kind_of(spec: FieldSpec | CoreKind) -> str:
    """The type a column is checked as."""
    return spec if isinstance(spec, str) else spec.type


def prepared_columns(column: str, spec: FieldSpec | CoreKind, cells: pl.Series, region: str) -> list[pl.Series]:
    """The columns the check of `column` reads besides its cells, worked out over the whole column
    (none for the types that are checked by expressions alone)."""
    kind = kind_of(spec)
    if kind == "phone":
        phone, message = bulk_phones(cells, region)
        return [phone.alias(f"__phone:{column}"), message.alias(f"__phone_message:{column}")]
    if kind == "email":
        email, message = bulk_emails(cells)
        return [email.alias(f"__email:{column}"), message.alias(f"__email_message:{column}")]
    if kind == "datetime":
        assert isinstance(spec, FieldSpec)
        table = _model_values(spec, cells)
        joined = pl.DataFrame({"raw": cells}).join(table, on="raw", how="left", maintain_order="left")
        return [
            joined.get_column("value").alias(f"__mapped:{column}"),
            joined.get_column("code").alias(f"__mapped_code:{column}"),
            joined.get_column("message").alias(f"__mapped_message:{column}"),
        ]
    return []


def column_check(column: str, target: str, spec: FieldSpec | CoreKind) -> ColumnCheck:
    """The check of one file column filling `target` ("phone", ... or "profile.<key>" / "meta.<key>")."""
    cell = pl.col(column)
    if isinstance(spec, FieldSpec):
        return _field_check(spec, column, target, cell)
    if spec == "phone":
        phone = pl.col(f"__phone:{column}")
        code = pl.when(cell.is_null()).then(pl.lit("MISSING")).when(phone.is_null()).then(pl.lit("INVALID_FORMAT"))
        message = (
            pl.when(cell.is_null()).then(pl.lit("a phone is required")).otherwise(pl.col(f"__phone_message:{column}"))
        )
        return ColumnCheck(column, target, phone, code, message)
    check = _field_check(FieldSpec(key=column, label=column, type=spec), column, target, cell)
    if spec == "date":
        # core dates are stored as dates, not JSON text
        return ColumnCheck(column, target, parse_dates(cell.str.strip_chars()), check.code, check.message)
    return check


def _when_chain(cases: Sequence[tuple[pl.Expr, str]]) -> pl.Expr:
    """First matching (condition, code) → code; null when none holds."""
    expr: Any = None
    for condition, code in cases:
        expr = pl.when(condition).then(pl.lit(code)) if expr is None else expr.when(condition).then(pl.lit(code))
    return pl.lit(None, pl.String) if expr is None else expr.otherwise(pl.lit(None, pl.String))


def _messages(code: pl.Expr, texts: dict[str, str]) -> pl.Expr:
    return code.replace_strict(texts, default=None, return_dtype=pl.String)


def _number_range(spec: FieldSpec) -> str:
    if spec.min is not None and spec.max is not None:
        return f"between {spec.min:g} and {spec.max:g}"
    return f"at least {spec.min:g}" if spec.min is not None else f"at most {spec.max:g}"


def _length_range(spec: FieldSpec, unit: str) -> str:
    if spec.min_length is not None and spec.max_length is not None:
        return f"{spec.min_length} to {spec.max_length} {unit}"
    return f"at least {spec.min_length} {unit}" if spec.min_length is not None else f"at most {spec.max_length} {unit}"


def _field_check(spec: FieldSpec, column: str, target: str, cell: pl.Expr) -> ColumnCheck:
    """The checks of one questionnaire field over a column of strings (null = not given)."""
    given = cell.is_not_null()
    missing = (~given, "MISSING") if spec.required else None
    texts: dict[str, str] = {"MISSING": "a value is required"}
    cases: list[tuple[pl.Expr, str]] = [missing] if missing else []
    trimmed = cell.str.strip_chars()
    kind = spec.type
    value: pl.Expr
    if kind in ("string", "text"):
        value = cell
        length = cell.str.len_chars()
        if spec.min_length is not None or spec.max_length is not None:
            bad = _outside(length, spec.min_length, spec.max_length)
            cases.append((given & bad, "LENGTH_CONSTRAINT"))
            texts["LENGTH_CONSTRAINT"] = f"must be {_length_range(spec, 'characters')}"
        if spec.pattern is not None:
            cases.append((given & ~cell.str.contains(spec.pattern), "PATTERN_MISMATCH"))
            texts["PATTERN_MISMATCH"] = f"does not match the pattern {spec.pattern}"
    elif kind == "email":
        return _email_check(spec, column, target, cell, cases, texts)
    elif kind == "integer":
        value = pl.when(trimmed.str.contains(r"^[+-]?[0-9]+$")).then(trimmed.cast(pl.Int64, strict=False))
        cases.append((given & value.is_null(), "TYPE_MISMATCH"))
        texts["TYPE_MISMATCH"] = "not an integer"
        _range(spec, value, given, cases, texts)
    elif kind == "decimal":
        value = trimmed.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)
        cases.append((given & value.is_null(), "TYPE_MISMATCH"))
        texts["TYPE_MISMATCH"] = "not a number"
        cases.append((given & (value.is_nan() | value.is_infinite()), "NUMBER_CONSTRAINT"))
        _range(spec, value, given, cases, texts)
        texts["NUMBER_CONSTRAINT"] = (
            f"must be a finite number {_number_range(spec)}"
            if spec.min is not None or spec.max is not None
            else "must be a finite number"
        )
    elif kind == "boolean":
        word = trimmed.str.to_lowercase()
        value = pl.when(word.is_in(TRUE_WORDS)).then(pl.lit(True)).when(word.is_in(FALSE_WORDS)).then(pl.lit(False))
        cases.append((given & value.is_null(), "TYPE_MISMATCH"))
        texts["TYPE_MISMATCH"] = "not a boolean (use true/false, 1/0, да/нет)"
    elif kind == "date":
        date = parse_dates(trimmed)
        value = date.cast(pl.String)
        cases.append((given & date.is_null(), "INVALID_FORMAT"))
        texts["INVALID_FORMAT"] = "not a date (use YYYY-MM-DD or DD.MM.YYYY)"
    elif kind == "datetime":
        return _mapped_check(spec, column, target, cell, cases, texts)
    elif kind == "enum":
        value = cell
        cases.append((given & ~cell.is_in(spec.options or []), "INVALID_ENUM_VALUE"))
        texts["INVALID_ENUM_VALUE"] = f"not one of {', '.join(spec.options or [])}"
    elif kind == "list":
        items = (
            cell.str.split(",")
            .list.eval(pl.element().str.strip_chars())
            .list.eval(pl.element().filter(pl.element() != ""))
        )
        value = items
        if spec.items == "enum":
            options = spec.options or []
            cases.append((given & ~items.list.eval(pl.element().is_in(options)).list.all(), "INVALID_ENUM_VALUE"))
            texts["INVALID_ENUM_VALUE"] = f"items must be among {', '.join(options)} (comma-separated)"
        elif spec.pattern is not None:
            cases.append(
                (given & ~items.list.eval(pl.element().str.contains(spec.pattern)).list.all(), "PATTERN_MISMATCH")
            )
            texts["PATTERN_MISMATCH"] = f"an item does not match the pattern {spec.pattern}"
        if spec.min_length is not None or spec.max_length is not None:
            count = items.list.len()
            bad = _outside(count, spec.min_length, spec.max_length)
            cases.append((given & bad, "LENGTH_CONSTRAINT"))
            texts["LENGTH_CONSTRAINT"] = f"must hold {_length_range(spec, 'items')}"
    else:  # pragma: no cover - FieldSpec admits no other type
        raise AssertionError(kind)
    code = _when_chain(cases)
    return ColumnCheck(column, target, value, code, _messages(code, texts))


def _outside(value: pl.Expr, low: float | None, high: float | None) -> pl.Expr:
    """True where `value` falls below `low` or above `high` (each bound optional)."""
    bad = pl.lit(False)
    if low is not None:
        bad = bad | (value < low)
    if high is not None:
        bad = bad | (value > high)
    return bad


def parse_dates(text: pl.Expr) -> pl.Expr:
    """`YYYY-MM-DD` or `DD.MM.YYYY` (as Python's strptime takes them) → Date; null otherwise."""
    date = pl.coalesce(*(text.str.to_date(fmt, strict=False, cache=False) for fmt in DATE_FORMATS))
    # chrono is laxer than strptime about the year's digits (the shape is that of DATE_FORMATS);
    # and Python's date has no year 0
    shape = text.str.contains(r"^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4})$")
    return pl.when(shape & (date.dt.year() >= 1)).then(date)


def _range(
    spec: FieldSpec, value: pl.Expr, given: pl.Expr, cases: list[tuple[pl.Expr, str]], texts: dict[str, str]
) -> None:
    if spec.min is None and spec.max is None:
        return
    bad = _outside(value, spec.min, spec.max)
    cases.append((given & value.is_not_null() & bad, "NUMBER_CONSTRAINT"))
    texts["NUMBER_CONSTRAINT"] = f"must be {_number_range(spec)}"


def _email_check(
    spec: FieldSpec, column: str, target: str, cell: pl.Expr, cases: list[tuple[pl.Expr, str]], texts: dict[str, str]
) -> ColumnCheck:
    """Email fields read the column `prepared_columns` normalised with `bulk_emails`."""
    given = cell.is_not_null()
    if spec.min_length is not None or spec.max_length is not None:
        length = cell.str.len_chars()
        bad = _outside(length, spec.min_length, spec.max_length)
        cases.append((given & bad, "LENGTH_CONSTRAINT"))
        texts["LENGTH_CONSTRAINT"] = f"must be {_length_range(spec, 'characters')}"
    email = pl.col(f"__email:{column}")
    message = pl.col(f"__email_message:{column}")
    cases.append((given & email.is_null(), "INVALID_FORMAT"))
    code = _when_chain(cases)
    texts["INVALID_FORMAT"] = INVALID_EMAIL
    return ColumnCheck(
        column, target, email, code, pl.when(code == "INVALID_FORMAT").then(message).otherwise(_messages(code, texts))
    )


def _mapped_check(
    spec: FieldSpec, column: str, target: str, cell: pl.Expr, cases: list[tuple[pl.Expr, str]], texts: dict[str, str]
) -> ColumnCheck:
    """Datetime fields read the columns `prepared_columns` took from the HTTP model's own validator,
    run once per distinct value."""
    value = pl.col(f"__mapped:{column}")
    problem = pl.col(f"__mapped_code:{column}")
    cases.append((cell.is_not_null() & problem.is_not_null(), "__mapped"))
    code = _when_chain(cases)
    code = pl.when(code == "__mapped").then(problem).otherwise(code)
    message = (
        pl.when(problem.is_not_null()).then(pl.col(f"__mapped_message:{column}")).otherwise(_messages(code, texts))
    )
    return ColumnCheck(column, target, value, code, message)


def _model_values(spec: FieldSpec, raw: pl.Series) -> pl.DataFrame:
    """(raw, JSON value, code, message) for each distinct value, by the HTTP model's type."""
    adapter: TypeAdapter[Any] = TypeAdapter(field_annotation(spec))
    values: list[str | None] = []
    codes: list[str | None] = []
    messages: list[str | None] = []
    uniques = raw.drop_nulls().unique()
    for item in uniques.to_list():
        try:
            parsed = adapter.validate_python(item)
            values.append(adapter.dump_json(parsed).decode().strip('"'))
            codes.append(None)
            messages.append(None)
        except ValidationError as exc:
            error = field_errors(exc.errors(include_url=False))[0]
            values.append(None)
            codes.append(error.code)
            messages.append(error.message)
    return pl.DataFrame(
        {
            "raw": uniques,
            "value": pl.Series(values, dtype=pl.String),
            "code": pl.Series(codes, dtype=pl.String),
            "message": pl.Series(messages, dtype=pl.String),
        }
    )
