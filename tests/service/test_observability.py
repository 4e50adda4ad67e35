"""Metrics at /metrics and structured logs with phones and emails masked."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from customers import db
from customers.config import Settings
from customers.logs import JsonFormatter, mask
from tests.conftest import LiveServer, free_port
from tests.helpers import ADMIN_TOKEN, READER_TOKEN, wait_for


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _requests(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], method: str, route: str, status: str
) -> float:
    key = ("customers_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0.0)


def test_metrics_count_by_route_template(api: httpx.Client, live: LiveServer) -> None:
    before = _samples(api.get("/metrics").text)
    created = api.post("/customers", json={"phone": "79161234567"}).json()
    api.get(f"/customers/{created['id']}")
    api.get("/customers/by-phone/79161234567")
    api.get("/customers/by-phone/79169999999")
    api.get("/no/such/path/79161234567")
    api.post("/customers", content="[" * 100 + "]" * 100, headers={"Content-Type": "application/json"})
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def grew(method: str, route: str, status: str) -> float:
        return _requests(after, method, route, status) - _requests(before, method, route, status)

    assert grew("POST", "/customers", "201") == 1
    assert grew("GET", "/customers/{customer_id}", "200") == 1
    assert grew("GET", "/customers/by-phone/{phone}", "200") == 1
    assert grew("GET", "/customers/by-phone/{phone}", "404") == 1
    assert grew("GET", "unmatched", "404") == 1
    refused = ("customers_http_requests_refused_total", (("reason", "too_deep"),))
    assert after[refused] - before.get(refused, 0) == 1
    latency = (
        "customers_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/customers/by-phone/{phone}")),
    )
    assert after[latency] - before.get(latency, 0) == 2
    # the series carry templates, never a caller's phone
    assert "79161234567" not in response.text
    # the other areas' counters are declared in the same registry
    for name in (
        "customers_search_index_write_failures_total",
        "customers_import_rows_total",
        "customers_job_runs_total",
        "customers_job_duration_seconds",
    ):
        assert f"# HELP {name}" in response.text


def test_batched_recording_writes_what_direct_recording_writes() -> None:
    """The batches of several workers add up to exactly the series one observe() per request gives."""
    from prometheus_client import REGISTRY

    from customers.metrics import HttpRecorder

    observations = [(200, 0.0004), (200, 0.003), (404, 0.003), (200, 0.2), (500, 20.0), (200, 0.0025)]

    async def record() -> None:
        batched, direct = HttpRecorder(0.01), HttpRecorder(None)
        for status, seconds in observations:
            batched.record("GET", "/proof/batched", status, seconds)
            direct.record("GET", "/proof/direct", status, seconds)
        # the loop runs its timers in the order they are due: the batch's flush comes first
        await asyncio.sleep(0.05)

    asyncio.run(record())
    series = _samples(generate_latest(REGISTRY).decode())

    def of(route: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (name, tuple(label for label in labels if label[0] != "route")): value
            for (name, labels), value in series.items()
            if ("route", route) in labels and not name.endswith("_created")
        }

    batched, direct = of("/proof/batched"), of("/proof/direct")
    assert batched == direct
    assert batched[("customers_http_requests_total", (("method", "GET"), ("status", "200")))] == 4
    assert batched[("customers_http_request_duration_seconds_count", (("method", "GET"),))] == 6


def test_metrics_need_a_token(live: LiveServer) -> None:
    assert httpx.get(f"{live.url}/metrics").status_code == 401
    assert httpx.get(f"{live.url}/metrics", headers={"Authorization": f"Bearer {READER_TOKEN}"}).status_code == 200


@pytest.mark.parametrize(
    ("text", "hidden", "shown"),
    [
        ("GET /customers/by-phone/79161234567 HTTP/1.1", "79161234567", "*********67"),
        ("a phone next to a number, 79161234567 404, is masked with it", "79161234567", "****04"),
        ("phone +7 (916) 123-45-67 given", "123-45-67", "*********67"),
        ("/customers/by-phone/%2B79161234567", "79161234567", "67"),
        ("Key (phone)=(79161234567) already exists", "79161234567", "*********67"),
        ("mail Ivan.Petrov@Example.RU sent", "Ivan.Petrov", "I***@***.RU"),
        ("/customers/by-email/ivan%40example.ru", "ivan%40example", "i***@***.ru"),
        ("пишите на иван@почта.рф", "иван@почта", "и***@***.рф"),
    ],
)
def test_mask_hides_phones_and_emails(text: str, hidden: str, shown: str) -> None:
    masked = mask(text)
    assert hidden not in masked
    assert shown in masked


@pytest.mark.parametrize("text", ["2026-11-26T05:50:00.123456+00:00", "took 0.0012345 s", "customer 42", "version 7"])
def test_mask_leaves_dates_decimals_and_small_numbers(text: str) -> None:
    assert mask(text) == text


def test_json_formatter_masks_message_arguments_extras_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.proof.pii")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("lookup of %s", "79161234567", extra={"email": "ivan@example.com", "attempt": 3})
        try:
            raise ValueError("duplicate phone 79161234567 for ivan@example.com")
        except ValueError:
            logger.exception("write failed")
    finally:
        logger.removeHandler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [entry["level"] for entry in lines] == ["warning", "error"]
    assert lines[0]["message"] == "lookup of *********67"
    assert lines[0]["email"] == "i***@***.com" and lines[0]["attempt"] == 3
    assert "79161234567" not in lines[1]["exception"] and "ivan@example.com" not in lines[1]["exception"]
    assert "ValueError" in lines[1]["exception"]


@pytest.fixture
def served(settings: Settings, clean_db: None, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`customers serve --workers 2` with the access log on, as it runs in production."""
    port = free_port()
    # the suite's database given as an external one, so the served processes never register
    # with (and outlive the cleanup of) the suite's embedded server
    params = psycopg.conninfo.conninfo_to_dict(db.resolve(settings).conninfo)
    env = {
        **os.environ,
        "AUTH_TOKENS": settings.auth_tokens.get_secret_value(),
        "ACCESS_LOG": "true",
        "CUSTOMERS_DATA_DIR": str(tmp_path),
        "SERVICES_DB_HOST": str(params["host"]),
        "SERVICES_DB_PORT": str(params.get("port") or 5432),
        "SERVICES_DB_DATABASE": str(params["dbname"]),
        "SERVICES_DB_USER": str(params.get("user") or "postgres"),
    }
    if params.get("password"):
        env["SERVICES_DB_PASSWORD"] = str(params["password"])
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--workers", "2", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url, process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_served_logs_are_json_with_pii_masked_and_metrics_span_workers(
    served: tuple[str, subprocess.Popen[bytes], Path],
) -> None:
    url, process, log = served
    phone, email = "79161234567", "ivan.petrov@example.ru"
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as client:
        assert client.post("/customers", json={"phone": "+7 916 123-45-67", "email": email}).status_code == 201
        assert client.post("/customers", json={"phone": phone}).status_code == 409
        for _ in range(10):  # spread over both workers
            assert client.get(f"/customers/by-phone/{phone}").status_code == 200
            assert client.get(f"/customers/by-email/{email}").status_code == 200

        def by_phone() -> float:
            return _requests(_samples(client.get("/metrics").text), "GET", "/customers/by-phone/{phone}", "200")

        # the workers write their counts in batches: /metrics catches up within a batch interval
        counted = wait_for(lambda: (n := by_phone()) >= 10 and n, 10)
    assert counted == 10  # counted whichever worker answered
    process.send_signal(signal.SIGINT)
    process.wait(20)
    text = log.read_text(encoding="utf-8")
    entries = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert len(entries) >= 22
    # every line is structured (the one plain line is the CLI's own banner)
    assert [line for line in text.splitlines() if not line.startswith("{") and not line.startswith("serving on ")] == []
    access = [e for e in entries if e["logger"] == "customers.access"]
    assert {e["route"] for e in access} >= {"/customers", "/customers/by-phone/{phone}", "/customers/by-email/{email}"}
    assert all({"method", "path", "status", "duration_ms"} <= e.keys() for e in access)
    assert phone not in text and "ivan.petrov" not in text and "123-45-67" not in text
    assert any(e["path"] == "/customers/by-phone/*********67" for e in access)
    assert any(e["path"] == "/customers/by-email/i***@***.ru" for e in access)
