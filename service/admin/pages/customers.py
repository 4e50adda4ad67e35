"""The customer card: every field, the profile laid out from the questionnaire, the edit form
(validated by the store with the API's rules, field errors shown beside their fields), block,
phone and email changes, cards, groups, deletion; and the lookup box of every page."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from customers import cards, customer_writes, groups, store
from customers.db import AsyncConn
from customers.errors import (
    CardExists,
    CustomerNotFound,
    CustomersError,
    FieldError,
    InvalidCardFormat,
    ValidationFailed,
)
from customers.questionnaire import Questionnaire
from customers.questionnaire_document import FieldSpec
from service.admin.deps import Viewer, ViewerDep, WriterDep
from service.admin.forms import Form, customer_update, read_form
from service.admin.routing import AdminRoute, redirect, render
from service.deps import ConnDep, QuestionnaireDep, SettingsDep
from service.params import MAX_ID, CustomerId, GroupId

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
GROUPS_SHOWN = 1000


def input_text(spec: FieldSpec, value: Any) -> Any:
    """A stored value as its form control shows it (a list of choices for an enum list)."""
    if value is None:
        return [] if spec.type == "list" and spec.items == "enum" else ""
    if spec.type == "list":
        items = value if isinstance(value, list) else [value]
        return [str(v) for v in items] if spec.items == "enum" else ", ".join(str(v) for v in items)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and spec.type == "integer":
        return str(int(value))
    return str(value)


def _layout(specs: list[FieldSpec], stored: dict[str, Any], part: str, form: Form | None) -> list[dict[str, Any]]:
    """The fields of a profile (or meta) in questionnaire order, with what their controls show:
    the stored value, or what was typed when the form comes back with errors."""
    rows = []
    for spec in specs:
        name = f"{part}.{spec.key}"
        value = stored.get(spec.key)
        if form is not None:
            shown = form.getlist(name) if spec.type == "list" and spec.items == "enum" else form.get(name)
        else:
            shown = input_text(spec, value)
        choices = list(spec.options or ())
        extra = [c for c in (shown if isinstance(shown, list) else [shown]) if c and choices and c not in choices]
        rows.append(
            {
                "spec": spec,
                "name": name,
                "value": value,
                "shown": shown,
                # an enum value the questionnaire no longer lists stays selectable (and reported)
                "choices": choices + extra,
                # a stored date an <input type=date> cannot show stays a text box: never lost on save
                "date_input": spec.type == "date" and (not shown or bool(_ISO_DATE.fullmatch(str(shown)))),
            }
        )
    return rows


def _others(specs: list[FieldSpec], stored: dict[str, Any]) -> list[tuple[str, Any]]:
    """Stored keys the questionnaire does not list (legacy data), shown as they are."""
    known = {s.key for s in specs}
    return [(k, v) for k, v in stored.items() if k not in known]


async def _card(
    request: Request,
    viewer: Viewer,
    conn: AsyncConn,
    q: Questionnaire,
    customer_id: int,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    other_errors: list[str] | None = None,
    form: Form | None = None,
    message: str | None = None,
) -> Response:
    customer = await store.get_customer(conn, customer_id)
    if customer is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    own_cards = await cards.list_cards(conn, customer_id)
    member_of = await groups.customer_groups(conn, customer_id) or []
    all_groups = await groups.list_groups(conn, 0, GROUPS_SHOWN) if viewer.can_write else []
    joined = {g["id"] for g in member_of}
    doc = q.document
    return render(
        request,
        "customer.html",
        viewer,
        status=status,
        nav="search",
        customer=customer,
        profile=_layout(doc.fields, customer["profile"], "profile", form),
        meta=_layout(doc.meta_fields, customer["meta"], "meta", form),
        other_profile=_others(doc.fields, customer["profile"]),
        other_meta=_others(doc.meta_fields, customer["meta"]),
        cards=own_cards,
        card_types=cards.GENERATED_TYPES,
        groups=member_of,
        other_groups=[g for g in all_groups if g["id"] not in joined],
        errors=errors or {},
        other_errors=other_errors or [],
        form=form,
        message=message,
    )


def _split(exc: ValidationFailed, names: set[str]) -> tuple[dict[str, str], list[str]]:
    beside: dict[str, str] = {}
    apart: list[str] = []
    for e in exc.errors:
        if e.field in names:
            beside.setdefault(e.field, f"{e.message} ({e.code})")
        else:
            apart.append(f"{e.field}: {e.message} ({e.code})")
    return beside, apart


def _card_url(customer_id: int, done: str) -> str:
    return f"/admin/customers/{customer_id}?done={done}"


# -- reading ----------------------------------------------------------------------------------


@router.get("/customers/{customer_id:int}")
async def customer_card(
    request: Request, customer_id: CustomerId, viewer: ViewerDep, conn: ConnDep, q: QuestionnaireDep
) -> Response:
    """One customer: every field, cards and groups; the edit forms for admins."""
    return await _card(request, viewer, conn, q, customer_id)


async def find_candidates(conn: AsyncConn, raw: str, region: str) -> list[tuple[str, dict[str, Any]]]:
    """Customers the lookup text may mean: (how it matched, the customer), one each."""
    text = raw.strip()
    found: dict[int, tuple[str, dict[str, Any]]] = {}

    def keep(how: str, customer: dict[str, Any] | None) -> None:
        if customer is not None and customer["id"] not in found:
            found[customer["id"]] = (how, customer)

    if text.startswith("#") and text[1:].isdigit() and 1 <= int(text[1:]) <= MAX_ID:
        keep("id", await store.get_customer(conn, int(text[1:])))
        return list(found.values())
    if "@" in text:
        with contextlib.suppress(ValidationFailed):
            keep("email", await store.get_by_email(conn, store.lookup_email(text)))
        return list(found.values())
    compact = re.sub(r"\s+", "", text)
    if compact.isdigit():
        keep("card", await cards.get_customer_by_card(conn, compact))
    with contextlib.suppress(ValidationFailed):
        keep("phone", await store.lookup_by_phone(text, region, lambda phone: store.get_by_phone(conn, phone)))
    if compact.isdigit() and len(compact) <= 19 and 1 <= int(compact) <= MAX_ID:
        keep("id", await store.get_customer(conn, int(compact)))
    return list(found.values())


@router.get("/lookup")
async def lookup(request: Request, viewer: ViewerDep, conn: ConnDep, settings: SettingsDep, q: str = "") -> Response:
    """Find one customer by phone (any human format), email, card number or id (`#42`)."""
    candidates = await find_candidates(conn, q, settings.phone_default_region) if q.strip() else []
    if len(candidates) == 1:
        return redirect(f"/admin/customers/{candidates[0][1]['id']}")
    return render(
        request, "lookup.html", viewer, status=200 if candidates else 404, nav="search", text=q, candidates=candidates
    )


# -- writes -----------------------------------------------------------------------------------


@router.post("/customers/{customer_id:int}/edit")
async def edit(
    request: Request, customer_id: CustomerId, viewer: WriterDep, conn: ConnDep, q: QuestionnaireDep
) -> Response:
    """Save the edit form; refused fields come back beside their controls and nothing is stored."""
    form = await read_form(request)
    current = await store.get_customer(conn, customer_id)
    if current is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    names = {f"profile.{s.key}" for s in q.document.fields} | {f"meta.{s.key}" for s in q.document.meta_fields}
    names |= {"source_id", "created", "loyalty_enabled", "accept_tender_offer", "prioritize_sms_verification"}
    try:
        update = customer_update(form, q.document.fields, q.document.meta_fields, current["subscriptions"])
        await customer_writes.update_customer(conn, customer_id, update, q)
    except ValidationFailed as exc:
        errors, other = _split(exc, names)
        return await _card(
            request, viewer, conn, q, customer_id, status=422, errors=errors, other_errors=other, form=form
        )
    return redirect(_card_url(customer_id, "saved"))


@router.post("/customers/{customer_id:int}/block")
async def block(customer_id: CustomerId, _: WriterDep, conn: ConnDep) -> Response:
    """Block the customer."""
    await store.set_blocked(conn, customer_id, True)
    return redirect(_card_url(customer_id, "blocked"))


@router.post("/customers/{customer_id:int}/unblock")
async def unblock(customer_id: CustomerId, _: WriterDep, conn: ConnDep) -> Response:
    """Unblock the customer."""
    await store.set_blocked(conn, customer_id, False)
    return redirect(_card_url(customer_id, "unblocked"))


@router.post("/customers/{customer_id:int}/email/activate")
async def activate_email(customer_id: CustomerId, _: WriterDep, conn: ConnDep) -> Response:
    """Mark the email as confirmed."""
    await store.activate_email(conn, customer_id)
    return redirect(_card_url(customer_id, "activated"))


async def _contact_change(
    request: Request, customer_id: int, viewer: Viewer, conn: AsyncConn, q: Questionnaire, field: str, change: Any
) -> Response:
    form = await read_form(request)
    try:
        await change(form.get(field))
    except CustomersError as exc:
        if isinstance(exc, ValidationFailed):
            message = "; ".join(f"{e.message} ({e.code})" for e in exc.errors)
        elif exc.code in ("PHONE_EXISTS", "EMAIL_EXISTS"):
            message = f"{exc.message} ({exc.code})"
        else:
            raise
        return await _card(request, viewer, conn, q, customer_id, status=exc.status, errors={f"new_{field}": message})
    return redirect(_card_url(customer_id, field))


@router.post("/customers/{customer_id:int}/phone")
async def change_phone(
    request: Request,
    customer_id: CustomerId,
    viewer: WriterDep,
    conn: ConnDep,
    q: QuestionnaireDep,
    settings: SettingsDep,
) -> Response:
    """Give the customer another phone (unique across customers)."""

    async def change(phone: str) -> None:
        await store.change_phone(conn, customer_id, phone, settings.phone_default_region)

    return await _contact_change(request, customer_id, viewer, conn, q, "phone", change)


@router.post("/customers/{customer_id:int}/email")
async def change_email(
    request: Request, customer_id: CustomerId, viewer: WriterDep, conn: ConnDep, q: QuestionnaireDep
) -> Response:
    """Give the customer another email; it starts unconfirmed."""

    async def change(email: str) -> None:
        await store.change_email(conn, customer_id, email)

    return await _contact_change(request, customer_id, viewer, conn, q, "email", change)


@router.get("/customers/{customer_id:int}/delete")
async def confirm_delete(request: Request, customer_id: CustomerId, viewer: ViewerDep, conn: ConnDep) -> Response:
    """Ask before deleting."""
    customer = await store.get_customer(conn, customer_id)
    if customer is None:
        raise CustomerNotFound(f"customer {customer_id} does not exist")
    return render(request, "confirm_delete.html", viewer, nav="search", customer=customer)


@router.post("/customers/{customer_id:int}/delete")
async def delete(customer_id: CustomerId, _: WriterDep, conn: ConnDep) -> Response:
    """Delete the customer, their cards, login code and memberships."""
    await store.delete_customer(conn, customer_id)
    return redirect(f"/admin/search?done=deleted&deleted={customer_id}")


# -- cards ------------------------------------------------------------------------------------


@router.post("/customers/{customer_id:int}/cards")
async def issue_card(request: Request, customer_id: CustomerId, _: WriterDep, conn: ConnDep) -> Response:
    """Issue a card with a generated id of the chosen type."""
    form = await read_form(request)
    await cards.create_card(conn, customer_id, cards.generated_card_type(form.get("card_type") or None))
    return redirect(_card_url(customer_id, "card"))


@router.post("/customers/{customer_id:int}/cards/attach")
async def attach_card(
    request: Request, customer_id: CustomerId, viewer: WriterDep, conn: ConnDep, q: QuestionnaireDep
) -> Response:
    """Attach a physical card (a number starting with 441)."""
    form = await read_form(request)
    try:
        await cards.add_physical_card(conn, customer_id, form.get("card_id"))
    except (InvalidCardFormat, CardExists) as exc:
        return await _card(
            request, viewer, conn, q, customer_id, status=exc.status, errors={"card_id": f"{exc.message} ({exc.code})"}
        )
    return redirect(_card_url(customer_id, "attached"))


@router.post("/customers/{customer_id:int}/cards/{card_id}/deactivate")
async def deactivate_card(customer_id: CustomerId, card_id: str, _: WriterDep, conn: ConnDep) -> Response:
    """Deactivate one of the customer's cards (it stays listed)."""
    await cards.deactivate_card(conn, customer_id, card_id)
    return redirect(_card_url(customer_id, "deactivated"))


@router.post("/customers/{customer_id:int}/login-code")
async def login_code(
    request: Request,
    customer_id: CustomerId,
    viewer: WriterDep,
    conn: ConnDep,
    q: QuestionnaireDep,
    settings: SettingsDep,
) -> Response:
    """Create a temporary login code, shown once on the card."""
    code = await cards.create_login_code(conn, customer_id, settings.login_code_ttl_seconds)
    expires = dt.timedelta(seconds=int(code["expires_after"]))
    return await _card(
        request, viewer, conn, q, customer_id, message=f"Login code {code['value']}, valid for {expires}."
    )


# -- groups -----------------------------------------------------------------------------------


@router.post("/customers/{customer_id:int}/groups")
async def join_group(request: Request, customer_id: CustomerId, _: WriterDep, conn: ConnDep) -> Response:
    """Add the customer to a group (an existing one, or a new one by name)."""
    form = await read_form(request)
    name = form.get("new_group").strip()
    if name:
        group_id = int((await groups.create_group(conn, name))["id"])
    else:
        raw = form.get("group_id")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
            raise ValidationFailed([FieldError("group_id", "MISSING", "choose a group or name a new one", raw)])
        group_id = int(raw)
    await groups.add_members(conn, group_id, [customer_id])
    return redirect(_card_url(customer_id, "joined"))


@router.post("/customers/{customer_id:int}/groups/{group_id:int}/remove")
async def leave_group(customer_id: CustomerId, group_id: GroupId, _: WriterDep, conn: ConnDep) -> Response:
    """Take the customer out of a group."""
    await groups.remove_members(conn, group_id, [customer_id])
    return redirect(_card_url(customer_id, "left"))
