"""Access to the admin page: the token login, what a reader sees, refused writes (a reader's, a
forged one, another site's), the session cookie, open mode; and values rendered as text."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
from playwright.sync_api import Page, Request, expect

from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN, READER_TOKEN
from tests.service.admin.conftest import login
from tests.service.admin.seed import add

WRITE_BUTTONS = re.compile(
    r"Save|Block|Unblock|Delete|Change the|Confirm the email|Issue|Attach|Deactivate|login code|Add|Run now|"
    r"Compute now|Upload|Reset|Rebuild|Check consistency"
)


def _blocked(db: psycopg.Connection[Any], customer_id: int) -> bool:
    row = db.execute("SELECT blocked FROM customers WHERE id = %s", (customer_id,)).fetchone()
    assert row is not None
    return bool(row[0])


def test_a_reader_sees_no_write_actions_and_a_forged_write_is_refused(
    reader_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = reader_page
    [customer] = add(conninfo, [{"phone": "79161234510", "email": "r@example.ru", "profile": {"city": "Томск"}}])
    for path in (
        f"/admin/customers/{customer['id']}",
        f"/admin/customers/{customer['id']}/delete",
        "/admin/search",
        "/admin/imports",
        "/admin/jobs",
        "/admin/settings",
        "/admin/settings/reset",
    ):
        page.goto(live.url + path)
        expect(page.locator(".role")).to_have_attribute("data-role", "reader")
        # the one form that posts is the logout
        assert page.locator("form[method=post]").count() == 1, path
        assert page.get_by_role("button", name=WRITE_BUTTONS).count() == 0, path
        assert page.locator("textarea, input[type=file]").count() == 0, path
    page.goto(f"{live.url}/admin/customers/{customer['id']}")
    expect(page.locator("[data-field='profile.city']")).to_have_text("Томск")

    # the reader's own session and CSRF token, posted by hand: refused by the server all the same
    csrf = page.locator("form[action='/admin/logout'] input[name=csrf]").input_value()
    for action, form in (
        (f"/admin/customers/{customer['id']}/block", {"csrf": csrf}),
        (f"/admin/customers/{customer['id']}/edit", {"csrf": csrf, "profile.city": "Омск"}),
        (f"/admin/customers/{customer['id']}/delete", {"csrf": csrf}),
        ("/admin/settings/reset", {"csrf": csrf}),
    ):
        answer = page.request.post(live.url + action, form=form, max_redirects=0)
        assert answer.status == 403, action
        assert "needs the admin role" in answer.text()
    stored = db.execute("SELECT blocked, profile FROM customers WHERE id = %s", (customer["id"],)).fetchone()
    assert stored == (False, {"city": "Томск"})
    assert db.execute("SELECT count(*) FROM questionnaire_versions").fetchone() == (0,)


def test_a_write_without_the_csrf_token_is_refused(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    [customer] = add(conninfo, [{"phone": "79161234511"}])
    for form in ({}, {"csrf": "forged"}):
        answer = page.request.post(f"{live.url}/admin/customers/{customer['id']}/block", form=form, max_redirects=0)
        assert answer.status == 403
        assert "did not come from this page" in answer.text()
    assert not _blocked(db, customer["id"])


def test_a_form_posted_by_another_site_is_refused(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    [customer] = add(conninfo, [{"phone": "79161234512"}])
    # a page of another site that posts to the admin page as soon as it opens, with a token it guessed
    attack = f"""<!doctype html><form id=f method=post action="{live.url}/admin/customers/{customer["id"]}/block">
        <input name=csrf value=guessed></form><script>document.getElementById('f').submit()</script>"""
    page.route("http://other-site.test/**", lambda route: route.fulfill(body=attack, content_type="text/html"))
    page.goto("http://other-site.test/prize")
    page.wait_for_url(f"{live.url}/**")
    # the SameSite=Strict cookie is not sent with another site's request: no session, the login
    assert "/admin/login" in page.url
    assert not _blocked(db, customer["id"])
    # and with the session (a same-site request), the server refuses another origin anyway
    answer = httpx.post(
        f"{live.url}/admin/customers/{customer['id']}/block",
        data={"csrf": "x"},
        headers={"Origin": "http://other-site.test", "Cookie": _session_cookie(page)},
    )
    assert answer.status_code == 403 and "another site" in answer.text
    assert not _blocked(db, customer["id"])


def _session_cookie(page: Page) -> str:
    [cookie] = [c for c in page.context.cookies() if c["name"] == "customers_admin"]
    return f"customers_admin={cookie['value']}"


def test_the_session_cookie_and_the_token_stay_out_of_sight(page: Page, live: LiveServer, clean_db: None) -> None:
    seen: list[str] = []

    def note(request: Request) -> None:
        seen.append(request.url)

    page.on("request", note)
    login(page, live.url, ADMIN_TOKEN)
    page.goto(f"{live.url}/admin/settings")
    assert seen and not any(ADMIN_TOKEN in url for url in seen)
    assert page.evaluate("document.cookie") == "", "no script can read the session"
    [cookie] = [c for c in page.context.cookies() if c["name"] == "customers_admin"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"
    assert ADMIN_TOKEN not in cookie["value"]
    assert page.locator("form[action='/admin/login']").count() == 0

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Access token")).to_be_visible()
    page.goto(f"{live.url}/admin/search")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))


def test_a_wrong_token_is_refused_and_pages_need_a_login(page: Page, live: LiveServer, clean_db: None) -> None:
    page.goto(f"{live.url}/admin/customers/1")
    expect(page).to_have_url(f"{live.url}/admin/login?next=%2Fadmin%2Fcustomers%2F1")
    page.get_by_label("Access token").fill("not-a-token-of-this-service")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#token-error")).to_have_text("This token is not valid. Try again.")
    # the API's bearer token is no session of the admin page
    answer = httpx.get(
        f"{live.url}/admin/search", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    login(page, live.url, READER_TOKEN, path="/admin/customers/1")
    expect(page.locator("h1")).to_have_text("CUSTOMER_NOT_FOUND")
    for nowhere in ("/admin/customers/abc", "/admin/no-such-page"):
        answer = page.goto(live.url + nowhere)
        assert answer is not None and answer.status == 404
        expect(page.locator("h1")).to_have_text("NOT_FOUND")


def test_open_mode_needs_no_login_but_still_checks_the_csrf_token(
    page: Page, open_live: LiveServer, conninfo: str, clean_db: None, db: psycopg.Connection[Any]
) -> None:
    [customer] = add(conninfo, [{"phone": "79161234513"}])
    page.goto(f"{open_live.url}/admin/customers/{customer['id']}")
    expect(page.locator(".role")).to_contain_text("open mode")
    assert page.get_by_role("button", name="Log out").count() == 0
    answer = httpx.post(f"{open_live.url}/admin/customers/{customer['id']}/block", data={})
    assert answer.status_code == 403
    assert not _blocked(db, customer["id"])
    page.get_by_role("button", name="Block").click()
    expect(page.locator(".flash")).to_have_text("The customer is blocked.")
    assert _blocked(db, customer["id"])


def test_customer_values_render_as_text_and_run_no_script(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    payload = "<img src=x onerror=alert(1)>"
    script = "<script>alert(2)</script>"
    [customer] = add(
        conninfo,
        [
            {
                "phone": "79161234514",
                "profile": {"first_name": payload, "last_name": script, "about": f"{payload} {script}"},
            }
        ],
    )
    page.goto(f"{live.url}/admin/search?q=img")
    row = page.locator(f"tr[data-id='{customer['id']}']")
    expect(row).to_contain_text(payload)
    expect(row).to_contain_text(script)
    page.goto(f"{live.url}/admin/customers/{customer['id']}")
    expect(page.get_by_label("Имя")).to_have_value(payload)
    expect(page.get_by_label("Фамилия")).to_have_value(script)
    expect(page.get_by_label("О себе")).to_have_value(f"{payload} {script}")
    page.goto(f"{live.url}/admin/lookup?q={payload}")
    expect(page.locator("main")).to_contain_text(payload)
    assert page.locator("img").count() == 0
    assert page.evaluate("Array.from(document.scripts).every(s => s.src.includes('/admin/static/'))")
    # the page's dialogs and script errors are checked by the `page` fixture: none opened
