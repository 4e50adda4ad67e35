"""Stage 2, validate: a vectorised polars plan derived from the questionnaire in force.

The plan applies the rules of the HTTP model (`customers.questionnaire`) to whole frames, with
the same error codes, and turns each frame into the rows to stage (typed core columns, profile
and meta as JSON text) and a frame of rejects (row, column, code, value, message).

Phones and emails take a vectorised fast path for the shapes whose result is certain, and
`customers.contacts` (the HTTP path's own functions) for the unique leftover values only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import phonenumbers
import polars as pl
from pydantic import TypeAdapter, ValidationError

from customers.contacts import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    InvalidEmail,
    InvalidPhone,
    normalize_email,
    normalize_phone,
)
from customers.questionnaire import FieldSpec, Questionnaire, _annotation, field_errors
from etl.read import RAGGED, ROW, FileRejected

OnDuplicate = Literal["first", "last", "reject"]
REJECT_SCHEMA = {"row": pl.Int64, "column": pl.String, "code": pl.String, "value": pl.String, "message": pl.String}
# raw values in the rejects file are cut here, so that a 10 MB field does not make a 10 MB reject
RAW_VALUE_LIMIT = 1000
TRUE_WORDS = ("true", "1", "да")
FALSE_WORDS = ("false", "0", "нет")

# core customer columns a file may carry, and the questionnaire type they are checked as
CORE_COLUMNS: dict[str, str] = {
    "phone": "phone",
    "email": "email",
    "email_confirmed": "boolean",
    "source_id": "integer",
    "blocked": "boolean",
    "loyalty_enabled": "boolean",
    "accept_tender_offer": "boolean",
    "prioritize_sms_verification": "boolean",
    "created": "date",
}
# the staging table's columns, in order (see etl.load)
STAGED = [ROW, *CORE_COLUMNS, "profile", "meta"]
STAGED_TYPES: dict[str, pl.DataType] = {
    ROW: pl.Int64(),
    "phone": pl.String(),
    "email": pl.String(),
    "email_confirmed": pl.Boolean(),
    "source_id": pl.Int64(),
    "blocked": pl.Boolean(),
    "loyalty_enabled": pl.Boolean(),
    "accept_tender_offer": pl.Boolean(),
    "prioritize_sms_verification": pl.Boolean(),
    "created": pl.Date(),
    "profile": pl.String(),
    "meta": pl.String(),
}


# ---------------------------------------------------------------------------------------------
# Phones and emails in bulk


def _region_pattern(region: str) -> tuple[str, str]:
    """A regex of the 10-digit national numbers phonenumbers holds valid for `region`."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert meta is not None
    kinds = []
    for name in (
        "fixed_line",
        "mobile",
        "toll_free",
        "premium_rate",
        "shared_cost",
        "personal_number",
        "voip",
        "pager",
        "uan",
        "voicemail",
    ):
        desc = getattr(meta, name)
        if desc is None or not desc.national_number_pattern:
            continue
        if desc.possible_length and 10 not in desc.possible_length:
            continue
        kinds.append(f"(?:{desc.national_number_pattern})")
    general = meta.general_desc.national_number_pattern
    return f"^(?:{general})$", f"^(?:{'|'.join(kinds)})$"


# the common Russian shapes: +7 / 7 / 8, then ten digits with the usual separators; or the bare
# ten digits of a national number that starts with 3, 4 or 9 (neither the country code 7 nor the
# trunk prefix 8, which phonenumbers would try to strip)
_RU_SHAPE = r"^(?:\+7|7|8)[ \-]?\(?[0-9]{3}\)?[ \-]?[0-9]{3}[ \-]?[0-9]{2}[ \-]?[0-9]{2}$"
_RU_BARE = r"^[349][0-9]{9}$"
_FAST_REGIONS = {"RU"}


def bulk_phones(raw: pl.Series, region: str = "RU") -> tuple[pl.Series, pl.Series]:
    """Normalise a column of phones; returns (E.164 digits or null, error message or null).

    Equal to `normalize_phone` value by value: the fast path takes only the shapes where
    phonenumbers' result is certain (checked against the region's own metadata patterns), the
    rest goes through `normalize_phone`, once per distinct value."""
    frame = pl.DataFrame({"raw": raw.cast(pl.String)})
    frame = frame.with_columns(pl.col("raw").str.strip_chars().alias("text"))
    if region in _FAST_REGIONS:
        general, valid = _region_pattern(region)
        bare = pl.col("text").str.contains(_RU_BARE)
        national = pl.when(bare).then(pl.col("text")).otherwise(pl.col("text").str.replace_all(r"\D", "").str.slice(1))
        fast = (
            pl.when(
                (bare | pl.col("text").str.contains(_RU_SHAPE))
                & national.str.contains(general)
                & national.str.contains(valid)
            )
            .then(pl.lit("7") + national)
            .otherwise(None)
        )
        frame = frame.with_columns(fast.alias("fast"))
    else:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("fast"))
    rest = frame.filter(pl.col("fast").is_null() & pl.col("raw").is_not_null()).get_column("raw").unique()
    if rest.is_empty():
        return frame.get_column("fast").alias(raw.name), pl.Series(raw.name, [None] * len(raw), dtype=pl.String)
    phones: list[str | None] = []
    messages: list[str | None] = []
    for value in rest.to_list():
        try:
            phones.append(normalize_phone(value, region))
            messages.append(None)
        except InvalidPhone as exc:
            phones.append(None)
            messages.append(str(exc))
    looked_up = pl.DataFrame(
        {"raw": rest, "slow": pl.Series(phones, dtype=pl.String), "message": pl.Series(messages, dtype=pl.String)}
    )
    out = frame.join(looked_up, on="raw", how="left", maintain_order="left", nulls_equal=False)
    return (
        out.select(pl.coalesce("fast", "slow")).to_series().alias(raw.name),
        out.get_column("message").alias(raw.name),
    )


# printable ASCII: Python's str.strip/lower and polars' strip_chars/to_lowercase agree on it
_PRINTABLE_ASCII = r"^[\x20-\x7e]*$"


def bulk_emails(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Normalise a column of emails; returns (address or null, error message or null), equal
    to `normalize_email` value by value."""
    frame = pl.DataFrame({"raw": raw.cast(pl.String)})
    cleaned = pl.col("raw").str.strip_chars(" ").str.to_lowercase()
    simple = pl.col("raw").str.contains(_PRINTABLE_ASCII)
    good = (cleaned.str.len_chars() <= EMAIL_MAX_LENGTH) & cleaned.str.contains(EMAIL_PATTERN)
    frame = frame.with_columns(
        pl.when(simple & good).then(cleaned).alias("fast"),
        pl.when(simple & ~good).then(pl.lit("not a valid email address")).alias("fast_message"),
    )
    rest = frame.filter(~pl.col("raw").str.contains(_PRINTABLE_ASCII)).get_column("raw").unique()
    if rest.is_empty():
        return frame.get_column("fast").alias(raw.name), frame.get_column("fast_message").alias(raw.name)
    emails: list[str | None] = []
    messages: list[str | None] = []
    for value in rest.to_list():
        try:
            emails.append(normalize_email(value))
            messages.append(None)
        except InvalidEmail as exc:
            emails.append(None)
            messages.append(str(exc))
    looked_up = pl.DataFrame(
        {"raw": rest, "slow": pl.Series(emails, dtype=pl.String), "slow_message": pl.Series(messages, dtype=pl.String)}
    )
    out = frame.join(looked_up, on="raw", how="left", maintain_order="left")
    return (
        out.select(pl.coalesce("fast", "slow")).to_series().alias(raw.name),
        out.select(pl.coalesce("fast_message", "slow_message")).to_series().alias(raw.name),
    )


# ---------------------------------------------------------------------------------------------
# One column's checks


@dataclass(frozen=True)
class Check:
    """What the plan derives for one file column: its typed value and its error code/message."""

    column: str  # the file's column name (after mapping), as reported in rejects
    target: str  # "phone", "email", ... or "profile.<key>" / "meta.<key>"
    value: pl.Expr  # the typed value (null when empty or invalid)
    code: pl.Expr  # the error code, null when the cell is fine
    message: pl.Expr  # a readable message, null when the cell is fine


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


def field_check(spec: FieldSpec, column: str, target: str, cell: pl.Expr) -> Check:
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
    return Check(column, target, value, code, _messages(code, texts))


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
    date = pl.coalesce(text.str.to_date("%Y-%m-%d", strict=False), text.str.to_date("%d.%m.%Y", strict=False))
    # chrono is laxer than strptime about the year's digits; and Python's date has no year 0
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
) -> Check:
    """Email fields are normalised column-wise (see `bulk_emails`): marked for `apply`."""
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
    texts["INVALID_FORMAT"] = "not a valid email address"
    return Check(
        column, target, email, code, pl.when(code == "INVALID_FORMAT").then(message).otherwise(_messages(code, texts))
    )


def _mapped_check(
    spec: FieldSpec, column: str, target: str, cell: pl.Expr, cases: list[tuple[pl.Expr, str]], texts: dict[str, str]
) -> Check:
    """Datetime fields go through the HTTP model's own validator, once per distinct value."""
    value = pl.col(f"__mapped:{column}")
    problem = pl.col(f"__mapped_code:{column}")
    cases.append((cell.is_not_null() & problem.is_not_null(), "__mapped"))
    code = _when_chain(cases)
    code = pl.when(code == "__mapped").then(problem).otherwise(code)
    message = (
        pl.when(problem.is_not_null()).then(pl.col(f"__mapped_message:{column}")).otherwise(_messages(code, texts))
    )
    return Check(column, target, value, code, message)


def map_unique(spec: FieldSpec, raw: pl.Series) -> pl.DataFrame:
    """(raw, JSON value, code, message) for each distinct value, by the HTTP model's type."""
    adapter: TypeAdapter[Any] = TypeAdapter(_annotation(spec))
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


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass
class Batch:
    """One validated frame: rows to stage and rejects."""

    good: pl.DataFrame
    rejects: pl.DataFrame
    read: int


class Plan:
    """The validation plan for one file's columns under one questionnaire."""

    def __init__(
        self, questionnaire: Questionnaire, columns: list[str], *, region: str = "RU", ignore_unknown: bool = False
    ) -> None:
        self.questionnaire = questionnaire
        self.region = region
        profile = {spec.key: spec for spec in questionnaire.document.fields}
        meta = {spec.key: spec for spec in questionnaire.document.meta_fields}
        self.targets: dict[str, tuple[str, FieldSpec | str]] = {}
        unknown: list[str] = []
        for column in columns:
            if column in CORE_COLUMNS:
                self.targets[column] = (column, CORE_COLUMNS[column])
            elif column.startswith("profile.") and column[8:] in profile:
                self.targets[column] = (column, profile[column[8:]])
            elif column in profile:
                self.targets[column] = (f"profile.{column}", profile[column])
            elif column.startswith("meta.") and column[5:] in meta:
                self.targets[column] = (column, meta[column[5:]])
            else:
                unknown.append(column)
        if unknown and not ignore_unknown:
            raise FileRejected(
                f"unknown column(s) {', '.join(map(repr, unknown))}: not a customer field, nor a questionnaire "
                "field (key or profile.<key>), nor meta.<key>; map them with --mapping or pass --ignore-unknown"
            )
        self.ignored = unknown
        mapped = [t for t, _ in self.targets.values()]
        if len(set(mapped)) != len(mapped):
            raise FileRejected("two columns fill the same field (e.g. `city` and `profile.city`)")
        if "phone" not in self.targets:
            raise FileRejected("the file has no `phone` column (map one with --mapping)")
        missing = [
            f"profile.{s.key}" for s in questionnaire.document.fields if s.required and f"profile.{s.key}" not in mapped
        ]
        missing += [
            f"meta.{s.key}" for s in questionnaire.document.meta_fields if s.required and f"meta.{s.key}" not in mapped
        ]
        if missing:
            raise FileRejected(f"required column(s) missing: {', '.join(missing)}")

    def check_types(self, schema: dict[str, pl.DataType]) -> None:
        """A Parquet file's column types must fit their fields (strings always do)."""
        for column, (_target, spec) in self.targets.items():
            dtype = schema[column]
            kind = spec if isinstance(spec, str) else spec.type
            if dtype == pl.String or _fits(kind, dtype):
                continue
            raise FileRejected(f"column {column!r} has Parquet type {dtype}, which does not fit a {kind} field")

    def apply(self, frame: pl.DataFrame) -> Batch:
        """Validate one frame."""
        frame = _as_text(frame, list(self.targets))
        columns = list(self.targets)
        # "" is an empty cell: not given
        frame = frame.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in columns)
        extra: list[pl.Series] = []
        for column, (_target, spec) in self.targets.items():
            kind = spec if isinstance(spec, str) else spec.type
            if kind == "phone":
                phone, message = bulk_phones(frame.get_column(column), self.region)
                extra += [phone.alias(f"__phone:{column}"), message.alias(f"__phone_message:{column}")]
            elif kind == "email":
                email, message = bulk_emails(frame.get_column(column))
                extra += [email.alias(f"__email:{column}"), message.alias(f"__email_message:{column}")]
            elif kind == "datetime":
                assert isinstance(spec, FieldSpec)
                table = map_unique(spec, frame.get_column(column))
                joined = frame.select(pl.col(column).alias("raw")).join(
                    table, on="raw", how="left", maintain_order="left"
                )
                extra += [
                    joined.get_column("value").alias(f"__mapped:{column}"),
                    joined.get_column("code").alias(f"__mapped_code:{column}"),
                    joined.get_column("message").alias(f"__mapped_message:{column}"),
                ]
        if extra:
            frame = frame.with_columns(extra)
        checks = [self._check(column, target, spec) for column, (target, spec) in self.targets.items()]
        ragged = pl.col(RAGGED) if RAGGED in frame.columns else pl.lit(None, pl.Int32)
        frame = frame.with_columns(
            *(c.code.alias(f"__code:{i}") for i, c in enumerate(checks)),
            *(c.value.alias(f"__value:{i}") for i, c in enumerate(checks)),
            ragged.alias(RAGGED),
        )
        ok = pl.col(RAGGED).is_null() & pl.all_horizontal(pl.col(f"__code:{i}").is_null() for i in range(len(checks)))
        good = frame.filter(ok).select(self._staged(checks))
        bad = frame.filter(~ok)
        rejects = [self._ragged_rejects(bad, len(self.targets))]
        bad = bad.filter(pl.col(RAGGED).is_null())
        for i, check in enumerate(checks):
            rejects.append(
                bad.filter(pl.col(f"__code:{i}").is_not_null()).select(
                    pl.col(ROW).alias("row"),
                    pl.lit(check.column).alias("column"),
                    pl.col(f"__code:{i}").alias("code"),
                    _raw(pl.col(check.column)).alias("value"),
                    check.message.alias("message"),
                )
            )
        return Batch(good, pl.concat(rejects, how="vertical_relaxed").sort("row", maintain_order=True), frame.height)

    def _check(self, column: str, target: str, spec: FieldSpec | str) -> Check:
        cell = pl.col(column)
        if isinstance(spec, FieldSpec):
            return field_check(spec, column, target, cell)
        if spec == "phone":
            phone = pl.col(f"__phone:{column}")
            code = pl.when(cell.is_null()).then(pl.lit("MISSING")).when(phone.is_null()).then(pl.lit("INVALID_FORMAT"))
            message = (
                pl.when(cell.is_null())
                .then(pl.lit("a phone is required"))
                .otherwise(pl.col(f"__phone_message:{column}"))
            )
            return Check(column, target, phone, code, message)
        core = FieldSpec(key=column, label=column, type=spec)  # type: ignore[arg-type]
        check = field_check(core, column, target, cell)
        if spec == "date":
            # core dates are stored as dates, not JSON text
            return Check(column, target, parse_dates(cell.str.strip_chars()), check.code, check.message)
        return check

    def _staged(self, checks: list[Check]) -> list[pl.Expr]:
        by_target = {c.target: i for i, c in enumerate(checks)}
        out: list[pl.Expr] = [pl.col(ROW)]
        for name in CORE_COLUMNS:
            expr = pl.col(f"__value:{by_target[name]}") if name in by_target else pl.lit(None)
            out.append(expr.cast(STAGED_TYPES[name]).alias(name))
        for group in ("profile", "meta"):
            members = [
                pl.col(f"__value:{i}").alias(check.target.split(".", 1)[1])
                for i, check in enumerate(checks)
                if check.target.startswith(group + ".")
            ]
            out.append(_json_object(members).alias(group))
        return out

    @staticmethod
    def _ragged_rejects(bad: pl.DataFrame, width: int) -> pl.DataFrame:
        ragged = bad.filter(pl.col(RAGGED).is_not_null())
        return ragged.select(
            pl.col(ROW).alias("row"),
            pl.lit("*").alias("column"),
            pl.lit("RAGGED_ROW").alias("code"),
            pl.lit(None, pl.String).alias("value"),
            pl.when(pl.col(RAGGED) < 0)
            .then(pl.lit(f"the row has fewer fields than the header ({width})"))
            .otherwise(pl.format("the row has {} fields, the header {}", pl.col(RAGGED), pl.lit(width)))
            .alias("message"),
        )


# a member whose value is null; keys match FieldSpec's key pattern and a string value never
# holds an unescaped quote, so this cannot match inside a value
_NULL_MEMBER = r'"[a-z][a-z0-9_]*":null,?'


def _json_object(members: list[pl.Expr]) -> pl.Expr:
    """One JSON object per row, members with null values left out (as the HTTP path stores)."""
    if not members:
        return pl.lit("{}")
    encoded = pl.struct(members).struct.json_encode()
    return encoded.str.replace_all(_NULL_MEMBER, "").str.replace(r",\}$", "}")


def _raw(cell: pl.Expr) -> pl.Expr:
    return (
        pl.when(cell.str.len_chars() > RAW_VALUE_LIMIT)
        .then(cell.str.slice(0, RAW_VALUE_LIMIT) + pl.lit("…"))
        .otherwise(cell)
    )


def _fits(kind: str, dtype: pl.DataType) -> bool:
    if kind in ("integer", "phone"):
        return dtype.is_integer()
    if kind == "decimal":
        return dtype.is_numeric()
    if kind == "boolean":
        return dtype == pl.Boolean
    if kind == "date":
        return dtype == pl.Date
    if kind == "datetime":
        return isinstance(dtype, pl.Datetime)
    if kind == "list":
        return isinstance(dtype, pl.List) and dtype.inner == pl.String
    return False


def _as_text(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Typed Parquet columns become the text the CSV path would have read."""
    exprs = []
    for column in columns:
        dtype = frame.schema[column]
        if dtype == pl.String:
            continue
        if isinstance(dtype, pl.List):
            exprs.append(pl.col(column).list.join(",").alias(column))
        elif dtype == pl.Boolean:
            exprs.append(pl.col(column).cast(pl.String).str.to_lowercase().alias(column))
        else:
            exprs.append(pl.col(column).cast(pl.String).alias(column))
    return frame.with_columns(exprs) if exprs else frame


# ---------------------------------------------------------------------------------------------
# Duplicates inside the file (across batches)


def resolve_duplicates(keys: pl.DataFrame, policy: OnDuplicate) -> tuple[pl.DataFrame, pl.DataFrame]:
    """From (row, phone, email) of every valid row, the rows dropped as duplicates of a phone and
    the rows rejected; both as reject frames. Emails repeated by different phones keep their
    first row; later ones are rejected (EMAIL_EXISTS)."""
    counts = pl.col("row").count().over("phone")
    if policy == "reject":
        dup_mask = counts > 1
    elif policy == "first":
        dup_mask = pl.col("row") != pl.col("row").min().over("phone")
    else:
        dup_mask = pl.col("row") != pl.col("row").max().over("phone")
    marked = keys.with_columns(dup_mask.alias("dup"), counts.alias("n"))
    dropped = marked.filter(pl.col("dup")).select(
        "row",
        pl.lit("phone").alias("column"),
        pl.lit("DUPLICATE_PHONE").alias("code"),
        pl.col("phone").cast(pl.String).alias("value"),
        pl.format("the phone appears in {} rows (--on-duplicate {})", pl.col("n"), pl.lit(policy)).alias("message"),
    )
    kept = marked.filter(~pl.col("dup"))
    first_email = pl.col("row").min().over("email")
    email_dups = kept.filter(pl.col("email").is_not_null() & (pl.col("row") != first_email)).select(
        "row",
        pl.lit("email").alias("column"),
        pl.lit("EMAIL_EXISTS").alias("code"),
        pl.col("email").alias("value"),
        pl.lit("the email is given for another phone earlier in the file").alias("message"),
    )
    if policy == "reject":
        return dropped.head(0), pl.concat([dropped, email_dups]).sort("row")
    return dropped.sort("row"), email_dups.sort("row")


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)
