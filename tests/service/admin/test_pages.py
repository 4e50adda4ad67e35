"""Every page in the browser at 1280 and 390 px wide: nothing wider than the screen, a label on
every control, usable by keyboard, assets under budget; a screenshot of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.service.admin.conftest import NARROW, WIDE
from tests.service.admin.seed import seed

PAGES = {
    "search": "/admin/search?f.city=Казань&sort=birth_date&order=desc",
    "customer": "/admin/customers/{first}",
    "imports": "/admin/imports",
    "jobs": "/admin/jobs",
    "settings": "/admin/settings",
}
ASSET_BUDGET = 200 * 1024

UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button')).filter(el => {
  if (el.tagName === 'BUTTON') return !el.textContent.trim() && !el.getAttribute('aria-label');
  return !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby');
}).map(el => el.outerHTML)"""
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def _prepare(conninfo: str, live: LiveServer, page: Page) -> dict[str, Any]:
    """A population, a job run and a statistics snapshot, so that every page has content."""
    customers = seed(conninfo)
    first = customers[0]["id"]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        group = conn.execute("INSERT INTO customer_groups (name, meta) VALUES ('VIP', '{}') RETURNING id").fetchone()
        assert group is not None
        conn.execute("INSERT INTO customer_group_members (group_id, customer_id) VALUES (%s, %s)", (group[0], first))
        conn.execute("INSERT INTO customer_groups (name, meta) VALUES ('Рассылка: весна', '{}')")
        conn.execute(
            "INSERT INTO cards (id, customer_id, type) VALUES ('1000000000000042', %s, 'VIRTUAL'), "
            "('4410000000077', %s, 'PHYSICAL')",
            (first, first),
        )
    page.goto(f"{live.url}/admin/jobs")
    page.locator("tr[data-job='stats-refresh']").get_by_role("button").click()
    expect(page.locator("#history tr[data-job='stats-refresh'][data-status='succeeded']").first).to_be_visible()
    return {"first": first}


def test_every_page_fits_both_widths_labels_every_control_and_is_screenshotted(
    admin_page: Page, live: LiveServer, conninfo: str, screenshots: Path
) -> None:
    page = admin_page
    values = _prepare(conninfo, live, page)
    for name, path in PAGES.items():
        for size, suffix in ((WIDE, ""), (NARROW, "-390")):
            page.set_viewport_size(size)
            page.goto(live.url + path.format(**values))
            expect(page.locator("main h1")).to_be_visible()
            assert page.evaluate(OVERFLOW) <= 0, f"{name} is wider than {size['width']} px"
            assert page.evaluate(UNLABELLED) == [], f"{name} has controls without a label"
            # the imports page is shown with an import's report by test_imports
            if name in ("search", "customer") or (not suffix and name != "imports"):
                page.screenshot(path=screenshots / f"{name}{suffix}.png", full_page=True)
    page.set_viewport_size(WIDE)


def test_login_page_is_labelled_and_screenshotted(page: Page, live: LiveServer, screenshots: Path) -> None:
    page.goto(f"{live.url}/admin/search")
    expect(page).to_have_url(f"{live.url}/admin/login?next=%2Fadmin%2Fsearch")
    assert page.evaluate(UNLABELLED) == []
    page.screenshot(path=screenshots / "login.png")


def test_keyboard_alone_reaches_a_customer(admin_page: Page, live: LiveServer, conninfo: str) -> None:
    page = admin_page
    [customer] = seed(conninfo, 1)
    page.goto(f"{live.url}/admin/search")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "lookup-q":
            break
    else:
        raise AssertionError("the lookup box cannot be reached with Tab")
    page.keyboard.type("8 (916) 111-00-00")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live.url}/admin/customers/{customer['id']}")
    expect(page.locator("h1")).to_have_text(f"Customer #{customer['id']}")


def test_the_assets_of_a_page_stay_under_200_kb(admin_page: Page, live: LiveServer, conninfo: str) -> None:
    page = admin_page
    [customer] = seed(conninfo, 1)
    for path in ("/admin/search", f"/admin/customers/{customer['id']}", "/admin/jobs"):
        sizes: dict[str, int] = {}

        def count(response: Any, sizes: dict[str, int] = sizes) -> None:
            sizes[response.url] = len(response.body())

        page.on("response", count)
        page.goto(live.url + path, wait_until="networkidle")
        page.remove_listener("response", count)
        assert all(url.startswith(live.url) for url in sizes), "every asset comes from the service itself"
        assert any(url.endswith(".js") or ".js?" in url for url in sizes), "the scripts were counted"
        total = sum(sizes.values())
        assert total < ASSET_BUDGET, f"{path}: {total} bytes"
