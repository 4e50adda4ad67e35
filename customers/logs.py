"""Structured logs: one JSON object a line, with phones and emails masked.

Masking happens in the formatter, on the final message and on every extra field, so a phone
or an email reaches the log neither through a message argument, nor an exception text, nor a
request path such as `/customers/by-phone/79001234567`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import orjson

# An email: keep the first character and the domain's last label, enough to tell cases apart.
_EMAIL = re.compile(r"([\w.%+\-])[\w.%+\-]*?(?:@|%40)[\w.\-]+?(\.[^\W\d_]{2,})\b")
# A phone: 7 to 15 digits, possibly with +, spaces, dashes or brackets between them (so
# "+7 (900) 123-45-67" is one phone), but not a date or a decimal; the last two digits stay.
# Percent-encoded forms (%2B7..., a%40b.ru) from raw URLs are masked too.
_PHONE = re.compile(r"(?<![\w.:])(?!\d{4}-\d\d-\d\d)(?:\+|%2[Bb])?\d(?:[\s()\-]{0,2}\d){6,14}(?![\w.:])")

_RESERVED = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName"}


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "*" * (len(digits) - 2) + digits[-2:]


def mask(text: str) -> str:
    """`text` with every email and phone number masked."""
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(r"\1***@***\2", text)
    return _PHONE.sub(_mask_phone, text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return mask(str(value))


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line: time, level, logger, message, extras, exception; PII masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = _masked(value)
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


def dict_config(level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` document sending every logger (uvicorn's too) to stderr as
    JSON lines; given to uvicorn as `log_config`, so every worker process applies it."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn's loggers propagate to the root handler instead of their own text handlers
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }
