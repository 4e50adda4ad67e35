"""Jobs, statistics and the questionnaire settings in the browser, checked against the database."""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.service.admin.seed import seed


def test_a_job_run_now_appears_in_the_history(admin_page: Page, live: LiveServer, db: psycopg.Connection[Any]) -> None:
    page = admin_page
    page.goto(f"{live.url}/admin/jobs")
    page.locator("tr[data-job='brin-summarize']").get_by_role("button", name=re.compile("Run now")).click()
    expect(page.locator(".flash")).to_contain_text("The job is started")
    run_id = int(re.search(r"run=(\d+)", page.url).group(1))  # type: ignore[union-attr]
    row = page.locator(f"#history tr[data-run='{run_id}']")
    expect(row).to_have_class("highlight")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(row).to_contain_text("brin-summarize")
    stored = db.execute("SELECT job, origin, status, result FROM job_runs WHERE id = %s", (run_id,)).fetchone()
    assert stored is not None and stored[:3] == ("brin-summarize", "http", "succeeded")
    assert "ranges_summarized" in stored[3]
    page.reload()
    expect(page.locator("table.jobs tr[data-job='brin-summarize']")).to_contain_text("succeeded")


def test_the_statistics_charts_show_the_database_counts(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    seed(conninfo)
    page.goto(f"{live.url}/admin/jobs")
    page.get_by_role("button", name="Compute now").click()
    expect(page.locator(".flash")).to_contain_text("statistics are computed")

    counts = db.execute(
        """SELECT count(*), count(*) FILTER (WHERE blocked), count(email),
                  count(*) FILTER (WHERE email IS NOT NULL AND email_confirmed),
                  count(*) FILTER (WHERE loyalty_enabled),
                  count(*) FILTER (WHERE created > current_date - 90)
             FROM customers"""
    ).fetchone()
    assert counts is not None
    total, blocked, with_email, confirmed, loyalty, recent = counts
    expect(page.locator("[data-stat=total]")).to_have_text(str(total))
    bars = {
        label: int(page.locator(f"svg.shares rect[data-share='{label}']").get_attribute("data-count") or -1)
        for label in ("Blocked", "With email", "Confirmed email", "Loyalty enabled")
    }
    assert bars == {
        "Blocked": blocked,
        "With email": with_email,
        "Confirmed email": confirmed,
        "Loyalty enabled": loyalty,
    }
    per_day = page.locator("svg.perday rect.bar")
    assert per_day.count() == 90
    assert sum(int(v) for v in per_day.evaluate_all("bars => bars.map(b => b.dataset.count)")) == recent
    today = db.execute("SELECT current_date::text").fetchone()[0]  # type: ignore[index]
    assert per_day.last.get_attribute("data-date") == today


def test_an_invalid_settings_document_is_refused_and_the_old_one_stays(
    admin_page: Page, live: LiveServer, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    page.goto(f"{live.url}/admin/settings")
    expect(page.locator("[data-version]").first).to_have_attribute("data-version", "0")
    editor = page.get_by_label(re.compile("The whole settings document"))
    document = json.loads(editor.input_value())
    document["fields"][0]["type"] = "colour"
    bad = json.dumps(document, ensure_ascii=False, indent=2)
    editor.fill(bad)
    page.get_by_role("button", name="Save as a new version").click()

    problems = page.locator("#document-error")
    expect(problems).to_contain_text("version 0 stays in force")
    expect(problems).to_contain_text("fields[0] (key 'first_name').type")
    expect(page.get_by_label(re.compile("The whole settings document"))).to_have_value(bad)
    assert db.execute("SELECT count(*) FROM questionnaire_versions").fetchone() == (0,)

    page.get_by_label(re.compile("The whole settings document")).fill('{"fields": [')
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator("#document-error")).to_contain_text("not valid JSON")
    assert db.execute("SELECT count(*) FROM questionnaire_versions").fetchone() == (0,)


def test_a_settings_edit_is_a_new_version_in_force_and_reset_returns_the_default(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    [customer] = seed(conninfo, 1)
    page.goto(f"{live.url}/admin/settings")
    editor = page.get_by_label(re.compile("The whole settings document"))
    document = json.loads(editor.input_value())
    city = next(f for f in document["fields"] if f["key"] == "city")
    city["label"] = "Город проживания"
    editor.fill(json.dumps(document, ensure_ascii=False))
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".flash")).to_contain_text("saved as a new version")
    expect(page.locator("tr[data-version='1']")).to_contain_text("set")
    stored = db.execute("SELECT version, document FROM questionnaire_versions").fetchall()
    assert [(v, next(f["label"] for f in d["fields"] if f["key"] == "city")) for v, d in stored] == [
        (1, "Город проживания")
    ]
    # the card lays the profile out from the version in force
    page.goto(f"{live.url}/admin/customers/{customer['id']}")
    expect(page.get_by_label(re.compile("Город проживания"))).to_have_value(customer["profile"]["city"])

    page.goto(f"{live.url}/admin/settings")
    page.get_by_role("link", name="Reset to the default…").click()
    page.get_by_role("button", name="Reset to the default").click()
    expect(page.locator(".flash")).to_contain_text("back to the shipped default")
    assert db.execute("SELECT version, action FROM questionnaire_versions ORDER BY version").fetchall() == [
        (1, "set"),
        (2, "reset"),
    ]
    page.get_by_role("link", name="1", exact=True).click()
    expect(page.locator("pre.document")).to_contain_text("Город проживания")
