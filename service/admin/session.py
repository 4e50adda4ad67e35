"""Login sessions of the admin page and their CSRF tokens (docs/admin.md, "Access").

A session is a cookie the server signs and keeps nothing of: `v1.<payload>.<signature>`, the
payload holding the role, an expiry, a random nonce and the id of the token that logged in.
- The signing key is derived from every configured token, so changing the tokens ends every
  session; the token id is a keyed hash of the token, checked against the configured tokens on
  every request, so a session never outlives its token nor carries another role than it has.
- The cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page makes
  the browser send it), limited to /admin, Secure over HTTPS.
- Every state-changing request also carries the session's CSRF token (a hidden form field, or
  the `X-CSRF-Token` header of the page's own script), a keyed hash of the session's nonce:
  compared in constant time on the server, it cannot be produced by another site's page.
- With no tokens configured (open mode, loopback only) everybody is admin: a session is
  issued without a login, signed with a random secret kept in the admin work dir (shared by
  the workers of one machine), and the CSRF token is required all the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from customers.config import Role

COOKIE = "customers_admin"
COOKIE_PATH = "/admin"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
OPEN_TOKEN_ID = "open"
_VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its role, when it expires, and its nonce (the CSRF token's seed)."""

    role: Role
    token_id: str
    nonce: str
    expires: int


class SessionKeys:
    """The signing key and the ids of the configured tokens, fixed for the application's life
    (the tokens are read once, when the application is built)."""

    def __init__(self, tokens: dict[str, Role], *, open_seed: str = "") -> None:
        self.open = not tokens
        material = "\n".join(sorted(f"{role}:{token}" for token, role in tokens.items())) if tokens else open_seed
        label = b"customers admin session" if tokens else b"customers admin session, open mode"
        self._key = hmac.new(label, material.encode(), hashlib.sha256).digest()
        self._roles: dict[str, Role] = {self.token_id(token): role for token, role in tokens.items()}
        if self.open:
            self._roles[OPEN_TOKEN_ID] = "admin"

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\x00" + data, hashlib.sha256).digest()

    def token_id(self, token: str) -> str:
        return _b64(self._mac(b"token", token.encode())[:12])

    def role_of(self, presented: str, tokens: dict[str, Role]) -> Role | None:
        """The role of a token typed into the login form: compared with every configured token,
        in constant time each, whichever matches."""
        found: Role | None = None
        for token, role in tokens.items():
            if hmac.compare_digest(presented.encode(), token.encode()):
                found = role
        return found

    def issue(self, role: Role, token_id: str, lifetime_seconds: float, now: float | None = None) -> str:
        """A new session cookie value."""
        payload = {
            "r": role,
            "t": token_id,
            "n": secrets.token_urlsafe(16),
            "e": int((now or time.time()) + lifetime_seconds),
        }
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{_VERSION}.{body}.{_b64(self._mac(b'session', body.encode()))}"

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie value, or None when it is forged, expired or its token is gone."""
        if not value:
            return None
        version, _, rest = value.partition(".")
        body, _, signature = rest.partition(".")
        if version != _VERSION or not body or not signature:
            return None
        try:
            if not hmac.compare_digest(_unb64(signature), self._mac(b"session", body.encode())):
                return None
            payload = json.loads(_unb64(body))
            session = Session(
                role=payload["r"], token_id=str(payload["t"]), nonce=str(payload["n"]), expires=int(payload["e"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (now or time.time()) or self._roles.get(session.token_id) != session.role:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The token every state-changing request of this session carries."""
        return _b64(self._mac(b"csrf", session.nonce.encode())[:18])

    def csrf_valid(self, session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf_token(session).encode(), (presented or "").encode())
