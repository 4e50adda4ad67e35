"""The questionnaire in force: single-customer validation derived from its settings document.

One settings document (`customers.questionnaire_document`) drives everything derived from it:
the pydantic model for single-customer input (`Questionnaire.validate_profile`, here), the
vectorised bulk validation plan (in `etl`) and the search index schema (in `customers.search`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    create_model,
)
from pydantic_core import PydanticCustomError

from customers.contacts import InvalidEmail, normalize_email
from customers.errors import FieldError, ValidationCode, ValidationFailed
from customers.questionnaire_document import FieldSpec, QuestionnaireDocument, default_document

DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")


def parse_date(value: Any) -> Any:
    """Dates arrive as `YYYY-MM-DD` or `dd.mm.yyyy` strings (or date objects)."""
    if isinstance(value, dt.datetime):
        raise PydanticCustomError("INVALID_FORMAT", "a date without time is expected")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("TYPE_MISMATCH", "a date string is expected")
    text = value.strip()
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise PydanticCustomError("INVALID_FORMAT", "not a date (use YYYY-MM-DD or DD.MM.YYYY)")


def parse_datetime(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("TYPE_MISMATCH", "a datetime string is expected")
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError("INVALID_FORMAT", "not an ISO 8601 datetime") from None


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except InvalidEmail as exc:
        raise PydanticCustomError("INVALID_FORMAT", str(exc)) from None


def _finite(value: float) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        raise PydanticCustomError("NUMBER_CONSTRAINT", "the number must be finite")
    return value


def field_annotation(spec: FieldSpec) -> Any:
    """The pydantic type of one field: the rule its values are held to.

    The single-customer model is built from it, and the bulk checks validate with it the values
    they do not check as polars expressions, so both paths share one definition of each type."""
    text_constraints = StringConstraints(min_length=spec.min_length, max_length=spec.max_length, pattern=spec.pattern)
    match spec.type:
        case "string" | "text":
            return Annotated[StrictStr, text_constraints]
        case "email":
            return Annotated[
                StrictStr,
                StringConstraints(min_length=spec.min_length, max_length=spec.max_length),
                AfterValidator(_email),
            ]
        case "integer":
            return Annotated[StrictInt, Field(ge=spec.min, le=spec.max)]
        case "decimal":
            return Annotated[StrictFloat, AfterValidator(_finite), Field(ge=spec.min, le=spec.max)]
        case "boolean":
            return StrictBool
        case "date":
            return Annotated[dt.date, BeforeValidator(parse_date)]
        case "datetime":
            return Annotated[dt.datetime, BeforeValidator(parse_datetime)]
        case "enum":
            return Literal[tuple(spec.options or ())]
        case "list":
            item: Any = (
                Literal[tuple(spec.options or ())]
                if spec.items == "enum"
                else Annotated[StrictStr, StringConstraints(pattern=spec.pattern)]
            )
            return Annotated[list[item], Field(min_length=spec.min_length, max_length=spec.max_length)]
    raise AssertionError(spec.type)


def build_model(name: str, specs: list[FieldSpec]) -> type[BaseModel]:
    """A strict pydantic model with one optional (or required) attribute per field."""
    definitions: dict[str, Any] = {}
    for spec in specs:
        annotation = field_annotation(spec)
        definitions[spec.key] = (annotation, ...) if spec.required else (annotation | None, None)
    config = ConfigDict(extra="forbid", regex_engine="rust-regex", str_strip_whitespace=False)
    return create_model(name, __config__=config, **definitions)


_PYDANTIC_CODES: dict[str, ValidationCode] = {
    "missing": "MISSING",
    "extra_forbidden": "UNKNOWN_FIELD",
    "literal_error": "INVALID_ENUM_VALUE",
    "enum": "INVALID_ENUM_VALUE",
    "greater_than": "NUMBER_CONSTRAINT",
    "greater_than_equal": "NUMBER_CONSTRAINT",
    "less_than": "NUMBER_CONSTRAINT",
    "less_than_equal": "NUMBER_CONSTRAINT",
    "finite_number": "NUMBER_CONSTRAINT",
    "string_too_short": "LENGTH_CONSTRAINT",
    "string_too_long": "LENGTH_CONSTRAINT",
    "too_short": "LENGTH_CONSTRAINT",
    "too_long": "LENGTH_CONSTRAINT",
    "string_pattern_mismatch": "PATTERN_MISMATCH",
    "date_from_datetime_inexact": "INVALID_FORMAT",
    "date_parsing": "INVALID_FORMAT",
    "datetime_parsing": "INVALID_FORMAT",
    "json_invalid": "INVALID_FORMAT",
}
_OWN_CODES = set(ValidationCode.__args__)  # type: ignore[attr-defined]


def field_errors(errors: Sequence[Any], prefix: str = "") -> list[FieldError]:
    """Translate pydantic error dicts (`ValidationError.errors()`) into FieldErrors with the
    service's codes."""
    result: list[FieldError] = []
    for err in errors:
        kind = err["type"]
        code: ValidationCode = kind if kind in _OWN_CODES else _PYDANTIC_CODES.get(kind, "TYPE_MISMATCH")
        # the path down to the field: list positions and union branch names are dropped
        path = [str(p) for p in err["loc"] if isinstance(p, str) and not _is_type_tag(p)]
        name = ".".join(([prefix] if prefix else []) + path) or prefix or "body"
        error = FieldError(name, code, err["msg"], err.get("input"))
        if error not in result:
            result.append(error)
    return result


def _is_type_tag(part: str) -> bool:
    # validator wrappers appear in error locations as e.g. 'function-after[_email(), str]'
    return "[" in part


class Questionnaire:
    """A validated settings document in force, with everything derived from it."""

    def __init__(self, document: QuestionnaireDocument, version: int = 0) -> None:
        self.document = document
        self.version = version

    @classmethod
    def default(cls) -> Questionnaire:
        return cls(default_document(), 0)

    @cached_property
    def profile_model(self) -> type[BaseModel]:
        return build_model("Profile", self.document.fields)

    @cached_property
    def meta_model(self) -> type[BaseModel]:
        return build_model("Meta", self.document.meta_fields)

    def validate_profile(self, profile: dict[str, Any]) -> dict[str, Any]:
        return _validate(self.profile_model, self.document.fields, profile, "profile")

    def validate_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        return _validate(self.meta_model, self.document.meta_fields, meta, "meta")


def _validate(model: type[BaseModel], specs: list[FieldSpec], data: Any, prefix: str) -> dict[str, Any]:
    """Validate one profile/meta object; return it in its stored JSON form (nulls dropped)."""
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError(prefix, "TYPE_MISMATCH", "an object is expected")])
    # null means "not given": dropped before validation, so a required field reports MISSING
    given = {k: v for k, v in data.items() if v is not None}
    try:
        instance = model.model_validate(given)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc.errors(include_url=False), prefix)) from None
    return instance.model_dump(mode="json", exclude_none=True)
