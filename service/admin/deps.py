"""The admin page's request-scoped needs: its state, who is looking (a signed session), and the
checks of every state-changing request (CSRF token, same origin, admin role)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from customers.config import Role
from service.admin.forms import read_form
from service.admin.session import COOKIE, CSRF_FIELD, CSRF_HEADER, OPEN_TOKEN_ID, Session
from service.admin.state import AdminState


class LoginRequired(Exception):
    """No valid session: the browser is sent to the login form."""


class WriteRefused(Exception):
    """A state-changing request the server does not accept (403): a reader's, or one without the
    session's CSRF token, or one sent by another site."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in browser as the templates see it."""

    role: Role
    csrf: str
    open: bool

    @property
    def can_write(self) -> bool:
        return self.role == "admin"


def admin_state(request: Request) -> AdminState:
    state: AdminState = request.app.state.admin
    return state


async def _state(request: Request) -> AdminState:
    return admin_state(request)


def current_session(request: Request) -> Session | None:
    """The request's valid session, if any (a new one is issued in open mode)."""
    state = admin_state(request)
    session = state.keys.read(request.cookies.get(COOKIE))
    if session is None and state.keys.open:
        value = state.keys.issue("admin", OPEN_TOKEN_ID, state.session_seconds)
        request.state.admin_set_cookie = value
        session = state.keys.read(value)
    request.state.admin_session = session
    return session


async def _viewer(request: Request) -> Viewer:
    session = current_session(request)
    if session is None:
        raise LoginRequired()
    state = admin_state(request)
    return Viewer(session.role, state.keys.csrf_token(session), state.keys.open)


def same_origin(request: Request) -> bool:
    """Whether the browser says the request comes from this site's own pages: `Sec-Fetch-Site`
    when sent, and `Origin` (its host and port) against the `Host` the request was sent to."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # an older browser: the CSRF token decides alone
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def _form_poster(request: Request, viewer: Annotated[Viewer, Depends(_viewer)]) -> Viewer:
    """A state-changing request of this session's own pages: same origin, the CSRF token."""
    state = admin_state(request)
    session: Session = request.state.admin_session
    if not same_origin(request):
        raise WriteRefused("refused: the request was sent from another site")
    presented = request.headers.get(CSRF_HEADER) or (await read_form(request)).get(CSRF_FIELD)
    if not state.keys.csrf_valid(session, presented):
        raise WriteRefused("refused: the form has expired or did not come from this page; reload it and try again")
    return viewer


async def _writer(viewer: Annotated[Viewer, Depends(_form_poster)]) -> Viewer:
    """A change to the data: as `_form_poster`, by an admin."""
    if not viewer.can_write:
        raise WriteRefused("refused: this needs the admin role")
    return viewer


StateDep = Annotated[AdminState, Depends(_state)]
ViewerDep = Annotated[Viewer, Depends(_viewer)]
WriterDep = Annotated[Viewer, Depends(_writer)]
# logging out: any role, but only from the session's own page
PosterDep = Annotated[Viewer, Depends(_form_poster)]
