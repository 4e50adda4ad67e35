"""The page templates (Jinja2, autoescaped: every value a template prints is escaped unless a
template says otherwise, and none says so for data) and the static assets they reference."""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.responses import HTMLResponse

# Every asset a page may load: served from this package, never from a CDN.
STATIC_FILES = ("admin.css", "admin.js", "htmx-2.0.11.min.js")


@dataclass(frozen=True)
class Asset:
    name: str
    content: bytes
    media_type: str
    digest: str


def load_assets() -> dict[str, Asset]:
    """The static files, read once (they are small) with a content hash for cache busting."""
    folder = resources.files("service.admin") / "static"
    assets = {}
    for name in STATIC_FILES:
        content = (folder / name).read_bytes()
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type.endswith("javascript"):
            media_type += "; charset=utf-8"
        assets[name] = Asset(name, content, media_type, hashlib.sha256(content).hexdigest()[:12])
    return assets


def _display(value: Any) -> str:
    """A stored value as text: lists comma-joined, booleans yes/no, nothing as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_display(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _when(value: Any) -> str:
    """A timestamp to the second (ISO strings from JSON reports too)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return _display(value)


def _number(value: Any) -> str:
    if isinstance(value, int | float):
        return f"{value:,.0f}".replace(",", "\u202f") if abs(value) >= 10_000 else f"{value:g}"
    return _display(value)


def _query(params: dict[str, Any], **changes: Any) -> str:
    """A query string from `params` with `changes` applied (None drops a parameter)."""
    merged = {**params, **changes}
    return urlencode(
        [(k, v) for k, v in merged.items() if v not in (None, "")] if merged else [],
        doseq=True,
    )


def _bytes(value: Any) -> str:
    if not isinstance(value, int):
        return _display(value)
    size = float(value)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


def _rule(spec: Any) -> str:
    """A questionnaire field's type and constraints in words (`integer, 0–20, required`)."""
    parts = [f"list of {spec.items}" if spec.type == "list" else spec.type]
    if spec.min is not None and spec.max is not None:
        parts.append(f"{spec.min:g}–{spec.max:g}")
    elif spec.min is not None:
        parts.append(f"at least {spec.min:g}")
    elif spec.max is not None:
        parts.append(f"at most {spec.max:g}")
    unit = "items" if spec.type == "list" else "characters"
    if spec.min_length is not None and spec.max_length is not None:
        parts.append(f"{spec.min_length}–{spec.max_length} {unit}")
    elif spec.max_length is not None:
        parts.append(f"up to {spec.max_length} {unit}")
    elif spec.min_length is not None:
        parts.append(f"at least {spec.min_length} {unit}")
    if spec.pattern:
        parts.append(f"pattern {spec.pattern}")
    if spec.required:
        parts.append("required")
    return ", ".join(parts)


def _dom_id(name: str) -> str:
    """An element id from a form field's name (`profile.first_name` → `profile-first_name`)."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


class Templates:
    """The environment, the assets, and rendering into responses."""

    def __init__(self) -> None:
        self.assets = load_assets()
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("service.admin", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(display=_display, when=_when, number=_number, bytes=_bytes, rule=_rule, dom_id=_dom_id)
        self.env.globals.update(static=self.static_url, query=_query)

    def static_url(self, name: str) -> str:
        return f"/admin/static/{name}?v={self.assets[name].digest}"

    def render(self, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(context), status_code=status)
