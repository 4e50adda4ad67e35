"""Response classes and the error body shared by every route."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import JSONResponse as _StarletteJSON


class JSONResponse(_StarletteJSON):
    """JSON rendered by orjson (dates as YYYY-MM-DD, datetimes as ISO 8601)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class FieldErrorBody(BaseModel):
    field: str
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: a stable code, a readable message, and the field errors if any."""

    code: str
    message: str
    errors: list[FieldErrorBody] | None = None
    details: dict[str, Any] | None = None
