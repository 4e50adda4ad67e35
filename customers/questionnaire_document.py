"""The questionnaire's settings document: which profile and meta fields a customer may carry,
with their types, constraints and search modes, and the free keys stored beside them.

`parse_document` is the one gate a document passes before it is put in force; everything derived
from a document (single-customer validation in `customers.questionnaire`, the vectorised bulk
plan in `etl`, the search schema in `customers.search`) trusts what it let through.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from customers.errors import InvalidSettings, unstorable_text

DEFAULT_DOCUMENT_PATH = Path(__file__).with_name("questionnaire_default.json")
# The whole settings document (field specs and free keys), as compact JSON.
SETTINGS_MAX_BYTES = 256 * 1024

FieldType = Literal["string", "text", "integer", "decimal", "boolean", "date", "datetime", "email", "enum", "list"]
ItemType = Literal["enum", "string"]
SearchMode = Literal["none", "text", "tag", "numeric"]

# Names a profile key may not take: they are core columns, and bulk files map columns onto
# questionnaire fields by bare key.
CORE_FIELDS = frozenset(
    {
        "id",
        "phone",
        "email",
        "email_confirmed",
        "source_id",
        "blocked",
        "profile",
        "meta",
        "subscriptions",
        "loyalty_enabled",
        "accept_tender_offer",
        "prioritize_sms_verification",
        "created",
        "updated_at",
    }
)

_SEARCH_MODES: dict[str, set[str]] = {
    "string": {"none", "text", "tag"},
    "text": {"none", "text"},
    "email": {"none", "tag"},
    "enum": {"none", "tag"},
    "list": {"none", "tag"},
    "boolean": {"none", "tag"},
    "integer": {"none", "numeric"},
    "decimal": {"none", "numeric"},
    "date": {"none", "numeric"},
    "datetime": {"none", "numeric"},
}
_LENGTH_TYPES = {"string", "text", "email", "list"}
_NUMBER_TYPES = {"integer", "decimal"}
_PATTERN_TYPES = {"string", "text"}


class FieldSpec(BaseModel):
    """One questionnaire field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
    label: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: FieldType
    items: ItemType | None = None
    required: bool = False
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = None
    min: float | None = None
    max: float | None = None
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=0)] | None = None
    pattern: str | None = None
    search: SearchMode = "none"
    sortable: bool = False
    description: str | None = None

    @model_validator(mode="after")
    def _coherent(self) -> FieldSpec:
        kind = self.type
        if kind == "list":
            if self.items is None:
                raise ValueError("a list needs 'items' (enum or string)")
        elif self.items is not None:
            raise ValueError("'items' applies to lists only")
        takes_options = kind == "enum" or (kind == "list" and self.items == "enum")
        if takes_options:
            if not self.options:
                raise ValueError("an enum needs a non-empty 'options' list")
            if len(set(self.options)) != len(self.options):
                raise ValueError("'options' repeats a value")
        elif self.options is not None:
            raise ValueError("'options' applies to enums only")
        if (self.min is not None or self.max is not None) and kind not in _NUMBER_TYPES:
            raise ValueError("'min'/'max' apply to integer and decimal fields only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        if (self.min_length is not None or self.max_length is not None) and kind not in _LENGTH_TYPES:
            raise ValueError("'min_length'/'max_length' apply to string, text, email and list fields")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) is greater than max_length ({self.max_length})")
        if self.pattern is not None:
            if kind not in _PATTERN_TYPES and not (kind == "list" and self.items == "string"):
                raise ValueError("'pattern' applies to string and text fields only")
            _check_pattern(self.pattern)
        if self.search not in _SEARCH_MODES[kind]:
            allowed = ", ".join(sorted(_SEARCH_MODES[kind]))
            raise ValueError(f"search mode {self.search!r} does not fit type {kind!r} (use {allowed})")
        if self.sortable and self.search == "none":
            raise ValueError("only a searchable field can be sortable")
        if self.sortable and kind == "list":
            raise ValueError("a list cannot be sortable")
        return self


def _check_pattern(pattern: str) -> None:
    """A pattern must compile for Python and for the Rust engine used by polars and pydantic."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression ({exc})") from None
    import polars as pl

    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception:  # noqa: BLE001 - polars raises ComputeError with the engine's message
        raise ValueError(
            f"pattern {pattern!r} uses a feature the bulk engine lacks (look-around or back-reference)"
        ) from None


class QuestionnaireDocument(BaseModel):
    """The settings document: profile fields and meta fields, which are validated here, and any
    other top-level keys a client keeps in the settings (the original service's settings are a
    free-form object), kept as given: `free_keys`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    fields: list[FieldSpec]
    meta_fields: list[FieldSpec] = []

    @property
    def free_keys(self) -> dict[str, Any]:
        """The top-level keys the questionnaire does not define, with their values."""
        return dict(self.model_extra or {})

    def to_json(self) -> dict[str, Any]:
        """The document as stored and answered: the field specs (unset options left out) and the
        free keys as given."""
        own = self.model_dump(include=set(type(self).model_fields), exclude_none=True)
        return {**own, **self.free_keys}

    @model_validator(mode="after")
    def _unique_keys(self) -> QuestionnaireDocument:
        for group, specs in (("fields", self.fields), ("meta_fields", self.meta_fields)):
            seen: set[str] = set()
            for spec in specs:
                if spec.key in seen:
                    raise ValueError(f"{group}: duplicate key {spec.key!r}")
                seen.add(spec.key)
        for spec in self.fields:
            if spec.key in CORE_FIELDS:
                raise ValueError(f"fields: key {spec.key!r} is a core customer field")
        return self


def parse_document(data: Any) -> QuestionnaireDocument:
    """Validate a settings document; InvalidSettings names the first problems.

    The field specs are held to the questionnaire's rules; a free key may hold any JSON value
    that PostgreSQL's jsonb stores and gives back unchanged; the whole document is at most
    `SETTINGS_MAX_BYTES` of JSON."""
    try:
        document = QuestionnaireDocument.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = _loc_text(err["loc"], data)
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise _invalid(problems) from None
    problems = _free_value_problems(document.free_keys)
    if problems:
        raise _invalid(problems)
    try:
        size = len(orjson.dumps(document.to_json()))
    except orjson.JSONEncodeError as exc:  # nested deeper than the encoder goes
        raise _invalid([f"the settings document cannot be stored as JSON: {exc}"]) from None
    if size > SETTINGS_MAX_BYTES:
        raise _invalid(
            [f"the settings document is {size} bytes of JSON, over the limit of 256 KiB ({SETTINGS_MAX_BYTES} bytes)"]
        )
    return document


def _invalid(problems: list[str]) -> InvalidSettings:
    return InvalidSettings("invalid questionnaire settings: " + "; ".join(problems[:5]), problems=problems)


# integers a JSON answer carries (64 bits, as orjson renders them)
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _free_value_problems(free: dict[str, Any]) -> list[str]:
    """What keeps the free keys from being stored and read back as given: text (keys too) with
    the NUL character or a lone surrogate, integers beyond 64 bits, numbers that are not finite."""
    problems: list[str] = []
    # (path, value) still to look at: a loop, not recursion, as a value may be nested deeply
    pending: list[tuple[str, Any]] = [("", free)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                inner = f"{path}.{key}" if path else key
                problem = unstorable_text(key)
                if problem:
                    problems.append(f"{path or 'a top-level key'}: a key: {problem}")
                else:
                    pending.append((inner, item))
        elif isinstance(value, list):
            pending.extend((path, item) for item in value)
        elif isinstance(value, str):
            problem = unstorable_text(value)
            if problem:
                problems.append(f"{path}: {problem}")
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if not _INT_MIN <= value <= _INT_MAX:
                problems.append(f"{path}: an integer is between {_INT_MIN} and {_INT_MAX}")
        elif isinstance(value, float):
            if not math.isfinite(value):
                problems.append(f"{path}: a number is finite")
        else:
            problems.append(f"{path}: {type(value).__name__} is not a JSON value")
    return sorted(set(problems))


def _loc_text(loc: tuple[Any, ...], data: Any) -> str:
    """`('fields', 3, 'type')` → `fields[3] (key 'city').type`, for readable settings errors."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            key = (
                node[item].get("key")
                if isinstance(node, list) and item < len(node) and isinstance(node[item], dict)
                else None
            )
            parts[-1] = f"{parts[-1]}[{item}]" + (f" (key {key!r})" if key else "")
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def default_document() -> QuestionnaireDocument:
    """The shipped default questionnaire of a retail loyalty program."""
    return parse_document(json.loads(DEFAULT_DOCUMENT_PATH.read_text(encoding="utf-8")))
