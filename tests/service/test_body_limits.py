"""Oversized and deeply nested bodies are refused before any route reads them, quickly."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN

FIFTY_MB = 50 * 1024 * 1024


def _connect(live: LiveServer) -> socket.socket:
    parts = urlsplit(live.url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_status(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest


def _head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def test_declared_50mb_body_is_refused_on_the_header_alone(live: LiveServer) -> None:
    """A 50 MB Content-Length is answered 413 before one byte of the body is sent."""
    with _connect(live) as sock:
        started = time.perf_counter()
        sock.sendall(_head("/customers", f"Content-Length: {FIFTY_MB}\r\n"))
        status, body = _read_status(sock)
        elapsed = time.perf_counter() - started
    assert status == 413
    assert b'"PAYLOAD_TOO_LARGE"' in body
    assert elapsed < 2


def test_chunked_50mb_body_is_cut_off_at_the_limit(live: LiveServer) -> None:
    """Without a length, the body is read only up to the limit: the 413 arrives while the
    client is still sending, long before 50 MB have gone out."""
    sent = 0
    done = threading.Event()
    chunk = b"[" + b"1," * 32767 + b"1]"  # 64 KiB of harmless JSON text per chunk

    with _connect(live) as sock:
        sock.sendall(_head("/customers", "Transfer-Encoding: chunked\r\n"))

        def pump() -> None:
            nonlocal sent
            frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
            try:
                while sent < FIFTY_MB and not done.is_set():
                    sock.sendall(frame)
                    sent += len(chunk)
            except OSError:
                pass  # the service closed the connection after its 413: expected

        started = time.perf_counter()
        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        status, body = _read_status(sock)
        done.set()
        elapsed = time.perf_counter() - started
        sender.join(10)
    assert status == 413
    assert b'"PAYLOAD_TOO_LARGE"' in body
    assert sent < FIFTY_MB // 4, f"{sent} bytes went out before the 413"
    assert elapsed < 5


def test_a_real_50mb_json_through_an_http_client(api: httpx.Client) -> None:
    """An ordinary client sending a 50 MB JSON document gets the 413 (or a closed connection
    after it), and the service goes on answering."""
    big = b'{"phone": "79161234567", "profile": {"about": "' + b"x" * FIFTY_MB + b'"}}'
    started = time.perf_counter()
    try:
        response = api.post("/customers", content=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the service answered and closed while the client was still writing
    assert time.perf_counter() - started < 10
    assert api.get("/health").status_code == 200


def _nested(depth: int) -> str:
    return '{"phone": "79161234567", "meta": {"legacy_id": ' + "[" * depth + "]" * depth + "}}"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_refused_with_422(api: httpx.Client, depth: int) -> None:
    """Nesting past the limit is a 422 naming the body, decided without parsing it."""
    started = time.perf_counter()
    response = api.post("/customers", content=_nested(depth), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_FAILED"
    assert body["errors"][0]["field"] == "body"
    assert "nest" in body["message"]
    assert time.perf_counter() - started < 2


def test_nesting_within_the_limit_reaches_validation(api: httpx.Client) -> None:
    """A shallow body passes the guard and is judged by the questionnaire instead."""
    response = api.post("/customers", content=_nested(3), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] != "body"


def test_brackets_inside_strings_do_not_count_as_nesting(api: httpx.Client) -> None:
    about = "[" * 500 + "{" * 500
    response = api.post("/customers", json={"phone": "79161234567", "profile": {"about": about}})
    assert response.status_code == 201, response.text
    assert response.json()["profile"]["about"] == about


def test_settings_document_nested_too_deep_is_refused(api: httpx.Client) -> None:
    deep = '{"fields": ' + "[" * 1000 + "]" * 1000 + "}"
    response = api.put("/settings", content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


def test_body_that_is_not_json_is_a_422(api: httpx.Client) -> None:
    response = api.patch("/customers/1", content=b"\xff\xfe{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == ("body", "INVALID_FORMAT")
    assert "not valid JSON" in error["message"]
