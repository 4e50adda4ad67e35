"""The admin page's parts without a browser: session cookies and CSRF tokens, form decoding,
chart geometry, the templates' escaping, the background tasks' state files."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from customers.errors import ValidationFailed
from customers.questionnaire import Questionnaire
from service.admin.charts import per_day_chart, totals_shares
from service.admin.forms import Form, customer_update, field_value
from service.admin.session import SessionKeys
from service.admin.tasks import TaskStore
from service.admin.templates import Templates

ADMIN = "admin-token-0123456789"
READER = "reader-token-0123456789"
TOKENS = {ADMIN: "admin", READER: "reader"}


def test_a_session_cookie_is_read_back_only_as_it_was_signed() -> None:
    keys = SessionKeys(TOKENS)  # type: ignore[arg-type]
    cookie = keys.issue("reader", keys.token_id(READER), 60)
    session = keys.read(cookie)
    assert session is not None and session.role == "reader"
    assert READER not in cookie

    version, body, signature = cookie.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["r"] = "admin"  # a reader promoting itself
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    assert keys.read(f"{version}.{forged}.{signature}") is None
    assert keys.read(cookie[:-2] + "AA") is None
    assert keys.read("v1.e30.") is None and keys.read("garbage") is None and keys.read(None) is None
    # a cookie signed with a valid key but naming the reader's token as admin: refused too
    assert keys.read(keys.issue("admin", keys.token_id(READER), 60)) is None


def test_a_session_ends_when_it_expires_or_its_token_goes() -> None:
    keys = SessionKeys(TOKENS)  # type: ignore[arg-type]
    cookie = keys.issue("admin", keys.token_id(ADMIN), 60)
    assert keys.read(cookie, now=time.time() + 61) is None
    # the tokens changed (the admin token revoked): every session of the old set is void
    assert SessionKeys({READER: "reader"}).read(cookie) is None
    assert SessionKeys({}).read(cookie) is None


def test_csrf_tokens_belong_to_their_session() -> None:
    keys = SessionKeys(TOKENS)  # type: ignore[arg-type]
    one = keys.read(keys.issue("admin", keys.token_id(ADMIN), 60))
    two = keys.read(keys.issue("admin", keys.token_id(ADMIN), 60))
    assert one is not None and two is not None
    assert keys.csrf_valid(one, keys.csrf_token(one))
    assert not keys.csrf_valid(one, keys.csrf_token(two))
    assert not keys.csrf_valid(one, "") and not keys.csrf_valid(one, None)


def test_the_login_compares_tokens_exactly() -> None:
    keys = SessionKeys(TOKENS)  # type: ignore[arg-type]
    assert keys.role_of(ADMIN, TOKENS) == "admin"  # type: ignore[arg-type]
    assert keys.role_of(READER, TOKENS) == "reader"  # type: ignore[arg-type]
    assert keys.role_of(ADMIN[:-1], TOKENS) is None  # type: ignore[arg-type]
    assert keys.role_of("", TOKENS) is None  # type: ignore[arg-type]


def test_form_text_becomes_the_apis_values_and_the_apis_rules_judge_it() -> None:
    specs = {s.key: s for s in Questionnaire.default().document.fields}
    form = Form(
        [
            ("profile.children_count", "2"),
            ("profile.shoe_size", "42,5"),
            ("profile.car_owner", "true"),
            ("profile.interests", "sport"),
            ("profile.interests", "books"),
            ("profile.first_name", " Анна "),
            ("profile.city", ""),
        ]
    )
    assert field_value(specs["children_count"], form, "profile.children_count") == 2
    assert field_value(specs["shoe_size"], form, "profile.shoe_size") == 42.5
    assert field_value(specs["car_owner"], form, "profile.car_owner") is True
    assert field_value(specs["interests"], form, "profile.interests") == ["sport", "books"]
    assert field_value(specs["first_name"], form, "profile.first_name") == " Анна "
    assert field_value(specs["city"], form, "profile.city") is None  # emptied: the key is removed
    # text that is no number reaches the rules as text: the API's own error
    assert field_value(specs["children_count"], Form([("x", "two")]), "x") == "two"

    q = Questionnaire.default()
    update = customer_update(Form([("source_id", "17"), ("loyalty_enabled", "false")]), [], [], [])
    assert update.source_id == "17" and update.loyalty_enabled is False
    with pytest.raises(ValidationFailed) as refused:
        customer_update(Form([("created", "31.02.2020")]), q.document.fields, [], [])
    assert [(e.field, e.code) for e in refused.value.errors] == [("created", "INVALID_FORMAT")]


def test_the_per_day_chart_is_to_scale() -> None:
    points = [{"date": f"2026-01-{d:02d}", "count": d % 3} for d in range(1, 31)]
    chart = per_day_chart(points)
    assert len(chart.bars) == 30 and chart.total == sum(p["count"] for p in points)
    tallest = max(b.height for b in chart.bars)
    assert all(abs(b.height - tallest * b.value / 2) < 0.01 for b in chart.bars)
    assert all(b.y + b.height == pytest.approx(chart.baseline) for b in chart.bars)
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2"]
    empty = per_day_chart([{"date": "2026-01-01", "count": 0}])
    assert empty.bars[0].height == 0
    shares = totals_shares({"total": 8, "blocked": 2, "with_email": 8, "confirmed_email": 0, "loyalty_enabled": 4})
    assert [(s.label, s.percent) for s in shares] == [
        ("Blocked", 25.0),
        ("With email", 100.0),
        ("Confirmed email", 0.0),
        ("Loyalty enabled", 50.0),
    ]


def test_templates_escape_every_value_and_never_mark_data_safe() -> None:
    templates = Templates()
    assert templates.env.autoescape is True
    folder = Path(__file__).resolve().parents[3] / "service" / "admin" / "templates"
    for template in folder.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", ""), template.name
        assert "autoescape false" not in text, template.name
    rendered = templates.env.from_string("{{ value }}").render(value="<img src=x onerror=alert(1)>")
    assert rendered == "&lt;img src=x onerror=alert(1)&gt;"
    assert sum(len(a.content) for a in templates.assets.values()) < 200 * 1024


def test_task_states_are_files_any_worker_reads(tmp_path: Path) -> None:
    store = TaskStore(tmp_path, keep_days=1)
    task_id = store.create("import", name="a.csv")
    assert store.get(task_id)["status"] == "queued"  # type: ignore[index]
    done: list[int] = []

    def work(progress: object) -> dict[str, int]:
        done.append(1)
        return {"rows": 3}

    store.start(task_id, work)  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while store.get(task_id)["status"] != "succeeded":  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert TaskStore(tmp_path, keep_days=1).get(task_id)["result"] == {"rows": 3}  # type: ignore[index]
    assert store.get("../../etc") is None and store.get("short") is None
    # a task left running by a process that is gone reads as interrupted
    store.update(task_id, status="running", pid=2**22 + 12345)
    assert store.get(task_id)["status"] == "interrupted"  # type: ignore[index]
