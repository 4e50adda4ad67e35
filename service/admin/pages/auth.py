"""Logging in with a token (typed into a form, sent in a POST body: never in a URL), logging
out, the entry redirect and the static assets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from customers.errors import NotFound
from service.admin.deps import PosterDep, StateDep, ViewerDep, current_session, same_origin
from service.admin.forms import read_form
from service.admin.routing import AdminRoute, redirect, render
from service.admin.session import COOKIE, COOKIE_PATH

router = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)
# served after every page's routes: any other address under /admin
fallback = APIRouter(prefix="/admin", route_class=AdminRoute, include_in_schema=False)


class PageNotFound(NotFound):
    code = "NOT_FOUND"


def _next_page(raw: str) -> str:
    """Where to go after the login: a page of this site under /admin, nothing else."""
    if raw.startswith("/admin") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/admin/search"


@router.get("")
@router.get("/")
async def home() -> Response:
    """The admin page starts at the search."""
    return redirect("/admin/search")


@router.get("/login")
async def login_form(request: Request, state: StateDep, next: str = "") -> Response:
    """The token form (open mode: straight to the page)."""
    if state.keys.open or current_session(request) is not None:
        return redirect(_next_page(next))
    return render(request, "login.html", None, next=_next_page(next), error=None)


@router.post("/login")
async def login(request: Request, state: StateDep) -> Response:
    """Check the token; a valid one starts a session (an HttpOnly, SameSite=Strict cookie)."""
    form = await read_form(request)
    target = _next_page(form.get("next"))
    if state.keys.open:
        return redirect(target)
    tokens = state.settings.tokens()
    role = state.keys.role_of(form.get("token").strip(), tokens) if same_origin(request) else None
    if role is None:
        return render(request, "login.html", None, status=401, next=target, error="This token is not valid. Try again.")
    token = form.get("token").strip()
    request.state.admin_set_cookie = state.keys.issue(role, state.keys.token_id(token), state.session_seconds)
    return redirect(target)


@router.post("/logout")
async def logout(_: PosterDep) -> Response:
    """End the session (the cookie is removed; with tokens, the login form follows)."""
    response = redirect("/admin/login")
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("/static/{name}")
async def static(name: str, state: StateDep, v: str = "") -> Response:
    """The page's assets, from the package; cached for a year when asked for by their hash."""
    asset = state.templates.assets.get(name)
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain")
    cache = "public, max-age=31536000, immutable" if v == asset.digest else "no-cache"
    return Response(asset.content, media_type=asset.media_type, headers={"cache-control": cache, "etag": asset.digest})


@fallback.get("/{rest:path}")
async def not_found(rest: str, _: ViewerDep) -> Response:
    """An address under /admin that is no page (after the login: nothing is told to strangers)."""
    raise PageNotFound("there is no such page")
