"""The questionnaire settings: the document in force laid out, its edit (the whole document as
JSON; an invalid one is refused naming the problems, and the version in force stays), the
history of versions and the reset to the shipped default."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from customers import settings_store
from customers.db import AsyncConn
from customers.errors import InvalidSettings
from service.admin.deps import Viewer, ViewerDep, WriterDep
from service.admin.forms import read_form
from service.admin.routing import AdminRoute, redirect, render
from service.deps import ConnDep

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)


async def _page(
    request: Request,
    viewer: Viewer,
    conn: AsyncConn,
    *,
    status: int = 200,
    text: str | None = None,
    problems: list[str] | None = None,
) -> Response:
    current = await settings_store.get_settings(conn)
    history = await settings_store.settings_history(conn)
    document = current["document"]
    return render(
        request,
        "settings.html",
        viewer,
        status=status,
        nav="settings",
        current=current,
        document=document,
        text=text if text is not None else json.dumps(document, ensure_ascii=False, indent=2),
        problems=problems or [],
        history=history,
    )


@router.get("/settings")
async def settings_page(request: Request, viewer: ViewerDep, conn: ConnDep) -> Response:
    """The questionnaire in force, its editor and its history."""
    return await _page(request, viewer, conn)


@router.post("/settings")
async def save_settings(request: Request, viewer: WriterDep, conn: ConnDep) -> Response:
    """Put the edited document in force as the next version, or show why it is refused."""
    text = (await read_form(request)).get("document")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        return await _page(request, viewer, conn, status=422, text=text, problems=[problem])
    try:
        saved = await settings_store.set_settings(conn, data)
    except InvalidSettings as exc:
        problems = exc.details.get("problems") or [exc.message]
        return await _page(request, viewer, conn, status=422, text=text, problems=[str(p) for p in problems])
    return redirect(f"/admin/settings?done=settings&version={saved['version']}")


@router.get("/settings/versions/{version:int}")
async def settings_version(request: Request, version: int, viewer: ViewerDep, conn: ConnDep) -> Response:
    """An earlier (or the current) version's document."""
    found = await settings_store.get_settings(conn, version if 1 <= version < 2**31 else -1)
    text = json.dumps(found["document"], ensure_ascii=False, indent=2)
    return render(request, "settings_version.html", viewer, nav="settings", version=found, text=text)


@router.get("/settings/reset")
async def confirm_reset(request: Request, viewer: ViewerDep) -> Response:
    """Ask before returning to the default."""
    return render(request, "confirm_reset.html", viewer, nav="settings")


@router.post("/settings/reset")
async def reset(_: WriterDep, conn: ConnDep) -> Response:
    """Return to the shipped default questionnaire (recorded as a new version)."""
    saved = await settings_store.reset_settings(conn)
    return redirect(f"/admin/settings?done=reset&version={saved['version']}")
