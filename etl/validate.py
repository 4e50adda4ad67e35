"""Stage 2, validate: the validation plan of one file's columns under the questionnaire in force.

The plan maps each column onto the field it fills, applies the field's checks (`etl.checks`)
to whole frames, and turns each frame into the rows to stage (typed core columns, profile and
meta as JSON text) and a frame of rejects (`etl.rejects`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from customers.models import SOURCE_ID_MAX_LENGTH
from customers.questionnaire import Questionnaire
from customers.questionnaire_document import FieldSpec
from etl.checks import ColumnCheck, CoreKind, column_check, kind_of, prepared_columns
from etl.read import RAGGED, ROW, FileRejected
from etl.rejects import raw_value

# core customer columns a file may carry, and the type they are checked as (a text column with
# rules of its own as the field spec of those rules, the HTTP model's)
CORE_COLUMNS: dict[str, FieldSpec | CoreKind] = {
    "phone": "phone",
    "email": "email",
    "email_confirmed": "boolean",
    "source_id": FieldSpec(key="source_id", label="source_id", type="string", max_length=SOURCE_ID_MAX_LENGTH),
    "blocked": "boolean",
    "loyalty_enabled": "boolean",
    "accept_tender_offer": "boolean",
    "prioritize_sms_verification": "boolean",
    "created": "date",
}
# core text columns a Parquet file may hold as integers: source_id was an integer column before
# it became text (and files exported then carry it so)
_INTEGERS_AS_TEXT = frozenset({"source_id"})
# the kinds whose check reads nothing but the cell, so it can run once per distinct value of a
# frame's column: what a loyalty file holds there repeats (dates, sizes, counts, flags, options)
_BY_DISTINCT_VALUE = frozenset({"date", "integer", "decimal", "boolean", "enum", "list"})
# the staging table's columns, in order (see etl.load)
STAGED = [ROW, *CORE_COLUMNS, "profile", "meta"]
STAGED_TYPES: dict[str, pl.DataType] = {
    ROW: pl.Int64(),
    "phone": pl.String(),
    "email": pl.String(),
    "email_confirmed": pl.Boolean(),
    "source_id": pl.String(),
    "blocked": pl.Boolean(),
    "loyalty_enabled": pl.Boolean(),
    "accept_tender_offer": pl.Boolean(),
    "prioritize_sms_verification": pl.Boolean(),
    "created": pl.Date(),
    "profile": pl.String(),
    "meta": pl.String(),
}


@dataclass
class ValidatedBatch:
    """One validated frame: rows to stage and rejects."""

    good: pl.DataFrame
    rejects: pl.DataFrame
    read: int


class ValidationPlan:
    """The validation plan for one file's columns under one questionnaire."""

    def __init__(
        self, questionnaire: Questionnaire, columns: list[str], *, region: str = "RU", ignore_unknown: bool = False
    ) -> None:
        self.region = region
        profile = {spec.key: spec for spec in questionnaire.document.fields}
        meta = {spec.key: spec for spec in questionnaire.document.meta_fields}
        self.targets: dict[str, tuple[str, FieldSpec | CoreKind]] = {}
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
        for column, (target, spec) in self.targets.items():
            dtype = schema[column]
            kind = kind_of(spec)
            if dtype == pl.String or _fits(kind, dtype) or (target in _INTEGERS_AS_TEXT and dtype.is_integer()):
                continue
            raise FileRejected(f"column {column!r} has Parquet type {dtype}, which does not fit a {kind} field")

    def apply(self, frame: pl.DataFrame) -> ValidatedBatch:
        """Validate one frame."""
        frame = _as_text(frame, list(self.targets))
        columns = list(self.targets)
        # "" is an empty cell: not given
        frame = frame.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in columns)
        prepared = [
            series
            for column, (_target, spec) in self.targets.items()
            for series in prepared_columns(column, spec, frame.get_column(column), self.region)
        ]
        if prepared:
            frame = frame.with_columns(prepared)
        checks = [column_check(column, target, spec) for column, (target, spec) in self.targets.items()]
        for i, (_target, spec) in enumerate(self.targets.values()):
            if kind_of(spec) in _BY_DISTINCT_VALUE:
                frame, checks[i] = _by_distinct_value(frame, checks[i], i)
        ragged = pl.col(RAGGED) if RAGGED in frame.columns else pl.lit(None, pl.Int32)
        frame = frame.with_columns(
            *(c.code.alias(f"__code:{i}") for i, c in enumerate(checks)),
            *(c.value.alias(f"__value:{i}") for i, c in enumerate(checks)),
            ragged.alias(RAGGED),
        )
        ok = pl.col(RAGGED).is_null() & pl.all_horizontal(pl.col(f"__code:{i}").is_null() for i in range(len(checks)))
        good = frame.filter(ok).select(self._staged(checks, frame))
        bad = frame.filter(~ok)
        rejects = [self._ragged_rejects(bad, len(self.targets))]
        bad = bad.filter(pl.col(RAGGED).is_null())
        for i, check in enumerate(checks):
            rejects.append(
                bad.filter(pl.col(f"__code:{i}").is_not_null()).select(
                    pl.col(ROW).alias("row"),
                    pl.lit(check.column).alias("column"),
                    pl.col(f"__code:{i}").alias("code"),
                    raw_value(pl.col(check.column)).alias("value"),
                    check.message.alias("message"),
                )
            )
        rejected = pl.concat(rejects, how="vertical_relaxed").sort("row", maintain_order=True)
        return ValidatedBatch(good, rejected, frame.height)

    def _staged(self, checks: list[ColumnCheck], frame: pl.DataFrame) -> list[pl.Expr]:
        by_target = {c.target: i for i, c in enumerate(checks)}
        out: list[pl.Expr] = [pl.col(ROW)]
        for name in CORE_COLUMNS:
            expr = pl.col(f"__value:{by_target[name]}") if name in by_target else pl.lit(None)
            out.append(expr.cast(STAGED_TYPES[name]).alias(name))
        for group in ("profile", "meta"):
            prefix = group + "."
            keys = {c.target.removeprefix(prefix): i for i, c in enumerate(checks) if c.target.startswith(prefix)}
            # in jsonb's own order of keys (shorter first, then bytewise): PostgreSQL then finds
            # them sorted, which took a fifth off the COPY's time (measured on 300,000 rows)
            members = [(key, f"__value:{keys[key]}") for key in sorted(keys, key=_jsonb_order)]
            out.append(_json_object(members, frame).alias(group))
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


def _by_distinct_value(frame: pl.DataFrame, check: ColumnCheck, i: int) -> tuple[pl.DataFrame, ColumnCheck]:
    """The check worked out once per distinct value of its column and joined back onto the
    frame's rows; the check then reads the joined columns. A column with hardly a repeated value
    is checked row by row as before (the join would cost more than it saves; birth dates, about
    half of them repeated within 50,000 rows, still gain)."""
    distinct = frame.select(pl.col(check.column).unique())
    if distinct.height * 4 > frame.height * 3:
        return frame, check
    names = (f"__value:{i}", f"__code:{i}", f"__message:{i}")
    table = distinct.with_columns(
        check.value.alias(names[0]), check.code.alias(names[1]), check.message.alias(names[2])
    )
    joined = frame.join(table, on=check.column, how="left", nulls_equal=True, maintain_order="left")
    return joined, ColumnCheck(check.column, check.target, *(pl.col(name) for name in names))


def _jsonb_order(key: str) -> tuple[int, bytes]:
    """Where jsonb keeps a key among an object's keys."""
    encoded = key.encode()
    return len(encoded), encoded


def columns_holding(frame: pl.DataFrame, columns: list[str], pattern: str) -> list[str]:
    """Those of `frame`'s text `columns` in which some value matches `pattern` (a regex), in the
    order given: one look over the columns, cheaper than rewriting every value of each."""
    if not columns:
        return []
    found = frame.select(pl.col(columns).str.contains(pattern).any()).row(0)
    return [column for column, has in zip(columns, found, strict=True) if has]


# what a JSON string escapes: a string without any is written as it is, between quotes
_JSON_ESCAPED = r'["\\\x00-\x1f]'


def _json_object(members: list[tuple[str, str]], frame: pl.DataFrame) -> pl.Expr:
    """One JSON object per row of `frame`'s (`key`, `column`) members, members with null values
    left out (as the HTTP path stores). Each member is written on its own and the row's members
    joined, so a null member never enters the text: taking them out of encoded objects (a regex
    pass over every object) cost more than encoding them (measured on 50,000 rows)."""
    if not members:
        return pl.lit("{}")
    texts = [column for _key, column in members if frame.schema[column] == pl.String]
    needs_escape = columns_holding(frame, texts, _JSON_ESCAPED)
    parts = []
    for key, column in members:
        value, dtype = pl.col(column), frame.schema[column]
        # keys match FieldSpec's key pattern: nothing in them to escape
        if dtype == pl.String and column not in needs_escape:
            parts.append(pl.concat_str(pl.lit(f'"{key}":"'), value, pl.lit('"')))
        elif dtype == pl.Boolean or dtype.is_integer():
            parts.append(pl.concat_str(pl.lit(f'"{key}":'), value.cast(pl.String)))
        else:  # the member encoded as a one-member object, its braces cut off
            encoded = pl.struct(value.alias(key)).struct.json_encode().str.slice(1).str.head(-1)
            parts.append(pl.when(value.is_not_null()).then(encoded))
    # a null member's part is null: concat_str leaves it out
    return pl.concat_str(pl.lit("{"), pl.concat_str(parts, separator=",", ignore_nulls=True), pl.lit("}"))


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
