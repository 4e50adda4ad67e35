"""How every admin route answers: pages rendered from templates, the service's errors as an
error page (never as JSON), a login redirect, the session cookie, security headers and the
server's time in `Server-Timing`."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from customers import db
from customers.errors import CustomersError, DatabaseUnavailable, ValidationFailed
from customers.questionnaire import field_errors
from service.admin.deps import LoginRequired, Viewer, WriteRefused, admin_state
from service.admin.session import COOKIE, COOKIE_PATH
from service.middleware import recheck_pool

# Scripts, styles and images come from this site only, nothing runs inline, and no other site
# may frame the pages or receive their forms.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}

# Messages after a write (Post/Redirect/Get: `?done=<key>`); fixed texts, never request data.
FLASH = {
    "saved": "Saved.",
    "blocked": "The customer is blocked.",
    "unblocked": "The customer is unblocked.",
    "activated": "The email is confirmed.",
    "phone": "The phone is changed.",
    "email": "The email is changed; it is unconfirmed.",
    "deleted": "The customer is deleted.",
    "card": "A card is issued.",
    "attached": "The card is attached.",
    "deactivated": "The card is deactivated.",
    "joined": "The customer is added to the group.",
    "left": "The customer is taken out of the group.",
    "started": "The job is started; its run is followed below.",
    "stats": "The statistics are computed afresh.",
    "settings": "The settings are saved as a new version.",
    "reset": "The settings are back to the shipped default (a new version).",
}

NAV = (
    ("search", "/admin/search", "Search"),
    ("imports", "/admin/imports", "Imports"),
    ("jobs", "/admin/jobs", "Jobs & statistics"),
    ("settings", "/admin/settings", "Settings"),
    ("index", "/admin/index", "Search index"),
)


def render(
    request: Request, template: str, viewer: Viewer | None, *, status: int = 200, nav: str = "", **context: Any
) -> Response:
    """A page (or a fragment) with what every template may use."""
    state = admin_state(request)
    search_on = state.settings.search_enabled
    return state.templates.render(
        template,
        {
            "request": request,
            "viewer": viewer,
            "nav": [item for item in NAV if item[0] != "index" or search_on],
            "active": nav,
            "search_enabled": search_on,
            "flash": FLASH.get(request.query_params.get("done", "")),
            **context,
        },
        status,
    )


def redirect(url: str) -> Response:
    """After a write: the page to show (Post/Redirect/Get)."""
    return RedirectResponse(url, status_code=303)


def _login_redirect(request: Request) -> Response:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/admin/login" + (f"?next={quote(path, safe='')}" if request.method == "GET" else "")
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _error_page(request: Request, status: int, title: str, message: str, details: list[str] | None = None) -> Response:
    viewer = None
    session = getattr(request.state, "admin_session", None)
    if session is not None:
        state = admin_state(request)
        viewer = Viewer(session.role, state.keys.csrf_token(session), state.keys.open)
    return render(request, "error.html", viewer, status=status, title=title, message=message, details=details or [])


def _service_error(request: Request, exc: CustomersError) -> Response:
    if isinstance(exc, DatabaseUnavailable):
        recheck_pool(request.app)
    details = [f"{e.field}: {e.message} ({e.code})" for e in exc.errors] if isinstance(exc, ValidationFailed) else []
    return _error_page(request, exc.status, exc.code, exc.message, details)


class AdminRoute(APIRoute):
    """An admin page's route: errors become pages, a missing login a redirect."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except LoginRequired:
                response = _login_redirect(request)
            except WriteRefused as exc:
                response = _error_page(request, 403, "FORBIDDEN", str(exc))
            except RequestValidationError as exc:
                response = _service_error(request, ValidationFailed(_request_errors(exc)))
            except CustomersError as exc:
                response = _service_error(request, exc)
            except db.DRIVER_ERRORS as exc:
                translated = db.translate(exc)
                if not isinstance(translated, CustomersError):
                    raise
                response = _service_error(request, translated)
            new_session = getattr(request.state, "admin_set_cookie", None)
            if new_session is not None:
                response.set_cookie(
                    COOKIE,
                    new_session,
                    max_age=int(admin_state(request).session_seconds),
                    path=COOKIE_PATH,
                    httponly=True,
                    samesite="strict",
                    secure=request.url.scheme == "https",
                )
            for name, value in _SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            response.headers.setdefault("cache-control", "no-store")
            parts = {"app": (time.perf_counter() - started) * 1000, **getattr(request.state, "admin_timings", {})}
            response.headers["server-timing"] = ", ".join(f"{name};dur={ms:.2f}" for name, ms in parts.items())
            return response

        return answer


def _request_errors(exc: RequestValidationError) -> list[Any]:
    errors = [{**e, "loc": tuple(e["loc"])[1:] or ("request",)} for e in exc.errors()]
    return field_errors(errors)
