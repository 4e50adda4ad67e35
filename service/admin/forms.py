"""HTML forms: the urlencoded body read into a multi-dict, and the card's fields turned into the
JSON values of an update.

Turning text into JSON values is the form's part only (an integer field's "12" becomes 12, an
empty field "no value"); every rule is the core's: the store validates the update with the
questionnaire exactly as it validates one sent to the API, and text that is no number reaches it
as text, so its error is the API's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import ValidationError

from customers.errors import FieldError, ValidationFailed
from customers.models import CustomerUpdate
from customers.questionnaire import FieldSpec, field_errors

_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
CORE_FLAGS = ("loyalty_enabled", "accept_tender_offer", "prioritize_sms_verification")


class Form:
    """The fields of a submitted form; a name may repeat (check boxes)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def get(self, name: str, default: str = "") -> str:
        """The last value sent for `name` (a hidden "false" before a check box: the box wins)."""
        values = self._values.get(name)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self._values.get(name, []))

    def __contains__(self, name: object) -> bool:
        return name in self._values


async def read_form(request: Request) -> Form:
    """The urlencoded body of the request (read once, kept on the request)."""
    cached = getattr(request.state, "admin_form", None)
    if isinstance(cached, Form):
        return cached
    form = Form([])
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = await request.body()
        try:
            form = Form(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise ValidationFailed([FieldError("body", "INVALID_FORMAT", "the form is not UTF-8")]) from None
    request.state.admin_form = form
    return form


def field_value(spec: FieldSpec, form: Form, name: str) -> Any:
    """The JSON value of one questionnaire field of the form (None: no value)."""
    if spec.type == "list":
        if spec.items == "enum":
            chosen = [v for v in form.getlist(name) if v]
            return chosen or None
        items = [part.strip() for part in form.get(name).split(",")]
        return [item for item in items if item] or None
    raw = form.get(name)
    if raw.strip() == "":
        return None
    match spec.type:
        case "integer":
            return int(raw) if _INTEGER.fullmatch(raw.strip()) else raw
        case "decimal":
            text = raw.strip()
            return float(text.replace(",", ".")) if _DECIMAL.fullmatch(text) else raw
        case "boolean":
            return {"true": True, "false": False}.get(raw, raw)
    return raw


def customer_update(form: Form, profile: list[FieldSpec], meta: list[FieldSpec], subscriptions: Iterable[str]) -> Any:
    """The card's edit form as the API's update (`CustomerUpdate`): every questionnaire field
    shown (an emptied one removes its key), the flags, the source id, the created date and the
    subscriptions shown. Raises ValidationFailed with the model's own field errors."""
    data: dict[str, Any] = {
        "profile": {spec.key: field_value(spec, form, f"profile.{spec.key}") for spec in profile},
        "meta": {spec.key: field_value(spec, form, f"meta.{spec.key}") for spec in meta},
    }
    for flag in CORE_FLAGS:
        if flag in form:
            data[flag] = form.get(flag) == "true"
    if form.get("created").strip():
        data["created"] = form.get("created").strip()
    if form.get("source_id").strip():
        data["source_id"] = form.get("source_id").strip()
    chosen = {key: form.get(f"subscriptions.{key}") for key in subscriptions if f"subscriptions.{key}" in form}
    if chosen:
        data["subscriptions"] = {key: value == "true" for key, value in chosen.items()}
    try:
        return CustomerUpdate.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc.errors(include_url=False))) from None
