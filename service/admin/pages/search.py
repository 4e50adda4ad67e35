"""The search page: free text and filters built from the questionnaire in force, sorting by the
sortable fields, pages with the total. Every choice lives in the query string (a deep link), and
the search itself is `customers.search.find`, answered by RediSearch or PostgreSQL like the API's.

Query string: `q` (free text), `f.<field>` (a select, a text value, `yes`/`no` for a toggle),
`f.<field>.from` / `f.<field>.to` (a range), `sort`, `order` (`asc`/`desc`), `page`, `size`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.responses import Response

from customers import search
from customers.errors import FieldError, ValidationFailed
from customers.questionnaire import FieldSpec, Questionnaire
from service.admin.deps import ViewerDep
from service.admin.routing import AdminRoute, render
from service.deps import ConnDep, QuestionnaireDep, SettingsDep

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)

Control = Literal["select", "text", "range", "toggle"]
PAGE_SIZES = (20, 50, 100)
# columns of the results table after id, phone and email: the first profile fields
RESULT_FIELDS = 4
_NUMBER = re.compile(r"^[+-]?\d+([.,]\d+)?$")
_FILTER_ID = re.compile(r"^filters\[\d+\] \((?P<id>[^)]*)\)")


@dataclass(frozen=True)
class FilterField:
    """One filter control: `key` is the field as `find` names it (`city`, `meta.legacy_id`)."""

    key: str
    label: str
    control: Control
    type: str
    options: tuple[str, ...] = ()
    is_list: bool = False

    @property
    def name(self) -> str:
        return f"f.{self.key}"


_CORE_FILTERS = (
    FilterField("blocked", "Blocked", "toggle", "boolean"),
    FilterField("email_confirmed", "Email confirmed", "toggle", "boolean"),
    FilterField("loyalty_enabled", "Loyalty enabled", "toggle", "boolean"),
    FilterField("created", "Created", "range", "date"),
)
_CORE_SORTS = (("id", "Id"), ("created", "Created"), ("updated_at", "Last change"), ("source_id", "Source id"))


def _from_spec(spec: FieldSpec, key: str, label: str) -> FilterField | None:
    if spec.search in ("none", "text"):  # text fields: the free text searches them
        return None
    options = tuple(spec.options or ())
    if spec.type == "boolean":
        return FilterField(key, label, "toggle", spec.type)
    if spec.search == "numeric":
        return FilterField(key, label, "range", spec.type)
    if options:
        return FilterField(key, label, "select", spec.type, options, is_list=spec.type == "list")
    return FilterField(key, label, "text", spec.type, is_list=spec.type == "list")


def filter_fields(q: Questionnaire) -> list[FilterField]:
    """The filters of the questionnaire's searchable fields, then the core flags and dates."""
    found: list[FilterField] = []
    for spec in q.document.fields:
        if (f := _from_spec(spec, spec.key, spec.label)) is not None:
            found.append(f)
    for spec in q.document.meta_fields:
        if (f := _from_spec(spec, f"meta.{spec.key}", f"{spec.label} (meta)")) is not None:
            found.append(f)
    return found + list(_CORE_FILTERS)


def sort_choices(q: Questionnaire) -> list[tuple[str, str]]:
    """(key, label) of every sortable field."""
    choices = list(_CORE_SORTS)
    choices += [(s.key, s.label) for s in q.document.fields if s.sortable]
    choices += [(f"meta.{s.key}", f"{s.label} (meta)") for s in q.document.meta_fields if s.sortable]
    return choices


def _number(text: str) -> Any:
    return float(text.replace(",", ".")) if _NUMBER.fullmatch(text) else text


@dataclass
class SearchForm:
    """The page's query string, read."""

    params: dict[str, str]
    query: str
    filters: list[search.Filter] = field(default_factory=list)
    sort: str = "id"
    order: Literal["asc", "desc"] = "asc"
    page: int = 1
    size: int = PAGE_SIZES[0]

    @classmethod
    def read(cls, params: dict[str, str], fields: list[FilterField]) -> SearchForm:
        form = cls(params=params, query=params.get("q", "").strip())
        for f in fields:
            form.filters += _filters(f, params)
        form.sort = params.get("sort") or "id"
        form.order = "desc" if params.get("order") == "desc" else "asc"
        page = params.get("page", "1")
        form.page = max(1, int(page)) if page.isdigit() and len(page) < 9 else 1
        size = params.get("size", "")
        form.size = int(size) if size.isdigit() and int(size) in PAGE_SIZES else PAGE_SIZES[0]
        return form

    def request(self) -> search.FindRequest:
        return search.FindRequest(
            query=self.query or None,
            filters=self.filters,
            offset=(self.page - 1) * self.size,
            limit=self.size,
            sort_key=self.sort,
            sort_order=self.order,
        )


def _filters(f: FilterField, params: dict[str, str]) -> list[search.Filter]:
    """The `find` filters of one control (none when it is left empty)."""
    if f.control == "range":
        low, high = params.get(f"{f.name}.from", "").strip(), params.get(f"{f.name}.to", "").strip()
        convert = _number if f.type in ("integer", "decimal") else str
        if low and high:
            return [search.Filter(id=f.name, kind=f.key, condition="between", value=[convert(low), convert(high)])]
        if low:
            return [search.Filter(id=f.name, kind=f.key, condition="gte", value=convert(low))]
        if high:
            return [search.Filter(id=f.name, kind=f.key, condition="lte", value=convert(high))]
        return []
    value = params.get(f.name, "").strip()
    if not value:
        return []
    if f.control == "toggle":
        value_of: Any = {"yes": True, "no": False}.get(value, value)
        return [search.Filter(id=f.name, kind=f.key, condition="eq", value=value_of)]
    return [search.Filter(id=f.name, kind=f.key, condition="contains" if f.is_list else "eq", value=value)]


def _errors_by_control(errors: list[FieldError]) -> tuple[dict[str, str], list[str]]:
    """The find's field errors beside the controls they are about; the rest apart."""
    beside: dict[str, str] = {}
    apart: list[str] = []
    for e in errors:
        match = _FILTER_ID.match(e.field)
        name = match.group("id") if match else {"query": "q", "sort_key": "sort", "offset": "page"}.get(e.field)
        if name:
            beside.setdefault(name, e.message)
        else:
            apart.append(f"{e.field}: {e.message}")
    return beside, apart


@router.get("/search")
async def search_page(
    request: Request, viewer: ViewerDep, conn: ConnDep, q: QuestionnaireDep, settings: SettingsDep
) -> Response:
    """Customers by free text and filters, a page of them with the total."""
    fields = filter_fields(q)
    params = dict(request.query_params.items())
    form = SearchForm.read(params, fields)
    errors: dict[str, str] = {}
    other_errors: list[str] = []
    result = None
    status = 200
    try:
        result = await search.find(conn, q, form.request(), settings=settings, runtime=request.app.state.search)
        request.state.admin_timings = result.timings  # in Server-Timing beside the page's own time
    except ValidationFailed as exc:
        errors, other_errors = _errors_by_control(exc.errors)
        status = 422
    pages = max(1, math.ceil(result.total / form.size)) if result else 1
    last_page = min(pages, max(1, settings.search_max_window // form.size))
    columns = [(s.key, s.label) for s in q.document.fields[:RESULT_FIELDS]]
    return render(
        request,
        "search.html",
        viewer,
        status=status,
        nav="search",
        form=form,
        fields=fields,
        sorts=sort_choices(q),
        sizes=PAGE_SIZES,
        result=result,
        pages=pages,
        last_page=last_page,
        columns=columns,
        errors=errors,
        other_errors=other_errors,
    )
