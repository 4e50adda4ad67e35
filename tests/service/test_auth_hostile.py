"""Tokens: missing, malformed, wrong, wrong role; compared in constant time."""

from __future__ import annotations

import hmac

import httpx
import pytest

from service import deps
from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN, READER_TOKEN

READ = ("GET", "/customers/1")
READ_DOCUMENTED = ("GET", "/customers/by-phone/79161110001")  # also served by the fast path
WRITE = ("POST", "/customers/1/block")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",  # (trailing blanks are stripped by HTTP itself, so "Bearer " is this case)
        "Bearer  \t x",
        "Basic " + ADMIN_TOKEN,
        ADMIN_TOKEN,
        "Token " + ADMIN_TOKEN,
        "Bearer " + ADMIN_TOKEN[:-1],
        "Bearer " + ADMIN_TOKEN + "x",
        "Bearer " + ADMIN_TOKEN.upper(),
        "Bearer " + "x" * 8000,
        "Bearer " + ADMIN_TOKEN + "' OR '1'='1",
        "Bearer \u00e9\u00e8" + ADMIN_TOKEN,
    ],
    ids=lambda v: repr(v)[:30],
)
@pytest.mark.parametrize("route", [READ, READ_DOCUMENTED, WRITE, ("GET", "/metrics"), ("GET", "/settings")])
def test_missing_malformed_or_wrong_tokens_get_401(
    live: LiveServer, authorization: str | None, route: tuple[str, str]
) -> None:
    headers = {} if authorization is None else {b"Authorization": authorization.encode("latin-1")}
    response = httpx.request(route[0], live.url + route[1], headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "UNAUTHORIZED"
    assert response.headers["www-authenticate"] == "Bearer"
    # the answer never echoes what was presented
    presented = (authorization or "").partition(" ")[2].strip()
    if len(presented) >= 8:
        assert presented[:20] not in response.text


@pytest.mark.parametrize(
    "route", [WRITE, ("DELETE", "/customers/1"), ("PUT", "/settings"), ("POST", "/settings/reset")]
)
def test_reader_token_cannot_write(live: LiveServer, route: tuple[str, str]) -> None:
    response = httpx.request(
        route[0], live.url + route[1], headers={"Authorization": f"Bearer {READER_TOKEN}"}, json={}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_reader_token_reads_and_scheme_is_case_insensitive(live: LiveServer, clean_db: None) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = httpx.get(live.url + "/customers/1", headers={"Authorization": f"{scheme} {READER_TOKEN}"})
        assert response.status_code == 404  # authorised; no such customer
        assert response.json()["code"] == "CUSTOMER_NOT_FOUND"


def test_every_configured_token_is_compared_whatever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison neither stops at the first match nor skips tokens of other lengths, and
    goes through hmac.compare_digest, so the time taken tells nothing about the tokens."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(deps.hmac, "compare_digest", counting)
    tokens: dict[str, deps.Role] = {"a" * 20: "admin", "b" * 32: "reader", "c" * 40: "reader"}
    for presented, expected in (("a" * 20, "admin"), ("c" * 40, "reader"), ("z" * 3, None), ("", None)):
        calls.clear()
        assert deps._match_token(presented, tokens) == expected
        assert len(calls) == len(tokens)
        assert {b for _, b in calls} == {t.encode() for t in tokens}
