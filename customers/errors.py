"""The service's errors: one base class with a code, specific errors below it.

HTTP status codes are attributes of the classes so that every entry (REST, JSON-RPC, CLI)
maps them the same way, in one place each.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

ValidationCode = Literal[
    "TYPE_MISMATCH",
    "MISSING",
    "INVALID_FORMAT",
    "INVALID_ENUM_VALUE",
    "NUMBER_CONSTRAINT",
    "LENGTH_CONSTRAINT",
    "PATTERN_MISMATCH",
    "UNKNOWN_FIELD",
]


class CustomersError(Exception):
    """Base of every expected error; `code` is the stable machine-readable name."""

    code: ClassVar[str] = "ERROR"
    status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class NotFound(CustomersError):
    status = 404


class Conflict(CustomersError):
    status = 409


class CustomerNotFound(NotFound):
    code = "CUSTOMER_NOT_FOUND"


class SettingsVersionNotFound(NotFound):
    code = "SETTINGS_VERSION_NOT_FOUND"


class PhoneExists(Conflict):
    code = "PHONE_EXISTS"


class EmailExists(Conflict):
    code = "EMAIL_EXISTS"


class CardExists(Conflict):
    code = "CARD_EXISTS"


class InvalidCardFormat(CustomersError):
    code = "INVALID_CARD_FMT"
    status = 422


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One validation failure: the field's dotted path, its code and a readable message."""

    field: str
    code: ValidationCode
    message: str
    value: Any = dataclasses.field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}


class ValidationFailed(CustomersError):
    code = "VALIDATION_FAILED"
    status = 422

    def __init__(self, errors: list[FieldError]) -> None:
        summary = "; ".join(f"{e.field}: {e.code}" for e in errors[:5])
        super().__init__(f"invalid input ({summary})")
        self.errors = errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "errors": [e.to_dict() for e in self.errors],
        }


class InvalidSettings(CustomersError):
    """A questionnaire settings document that cannot be put in force."""

    code = "INVALID_SETTINGS"
    status = 422


class DatabaseUnavailable(CustomersError):
    """PostgreSQL cannot be reached; transient, the caller may retry."""

    code = "DATABASE_UNAVAILABLE"
    status = 503


NUL_MESSAGE = "text may not contain the NUL character (U+0000)"


def unstorable_text(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` as text or in jsonb, or None when it can."""
    if "\x00" in text:
        return "the NUL character (U+0000) cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (U+D800 to U+DFFF) is not a character"
    return None


def nul_text_errors(value: Any, field: str) -> list[FieldError]:
    """A field error for every string in a parsed JSON value (or a path or query parameter)
    that holds the NUL character, which PostgreSQL's text and jsonb cannot store. Fields are
    dotted paths under `field` (list positions left out, as in every field error); a key with a
    NUL is reported on the object holding it."""
    errors: list[FieldError] = []
    _collect_nul(value, field, errors)
    return list(dict.fromkeys(errors))  # a list of strings is one field: reported once


def _collect_nul(value: Any, field: str, errors: list[FieldError]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            errors.append(FieldError(field or "body", "INVALID_FORMAT", NUL_MESSAGE))
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                errors.append(FieldError(field or "body", "INVALID_FORMAT", f"a key: {NUL_MESSAGE}"))
            else:
                _collect_nul(item, f"{field}.{key}" if field else key, errors)
    elif isinstance(value, list):
        for item in value:
            _collect_nul(item, field, errors)
