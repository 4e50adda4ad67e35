"""The search page answered by PostgreSQL (search off) and by RediSearch (search on): the same
customers in the same order; and the search index page (status, rebuild, consistency check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from playwright.sync_api import Page, expect

from customers import search
from customers.config import Settings
from tests.conftest import LiveServer, start_server
from tests.service.admin.conftest import login
from tests.service.admin.seed import seed

QUERIES = [
    "f.city=Казань&f.gender=female",
    "q=Ан&sort=birth_date&order=desc",
    "f.interests=sport&f.birth_date.from=1970-01-01&f.birth_date.to=1990-12-31",
    "f.blocked=yes&f.loyalty_enabled=yes",
    "f.children_count.from=0&f.children_count.to=0&sort=created",
    "sort=last_name&page=2",
    "f.meta.registration_channel=web&order=desc&size=50",
    "q=иван кузн",
]


@pytest.fixture(scope="module")
def search_live(search_settings: Settings) -> Iterator[LiveServer]:
    """The service with search on. Module-scoped: its write-path listener is process-global."""
    from cli.app import create_app

    server = start_server(create_app(search_settings))
    yield server
    server.stop()


@pytest.fixture
def empty_index(search_settings: Settings, clean_db: None) -> None:
    client = redis.Redis(host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=2)
    client.flushdb()
    client.close()


def _page_of(page: Page, url: str) -> tuple[str, str, list[int]]:
    page.goto(url)
    summary = page.locator(".summary")
    ids = page.locator("table.results tbody tr").evaluate_all("rows => rows.map(r => Number(r.dataset.id))")
    return summary.get_attribute("data-total") or "", summary.get_attribute("data-engine") or "", ids


def test_the_same_results_with_search_off_and_on(
    page: Page,
    live: LiveServer,
    search_live: LiveServer,
    search_settings: Settings,
    conninfo: str,
    empty_index: None,
) -> None:
    seed(conninfo)
    search.migrate_index(search_settings)
    login(page, live.url)
    for query in QUERIES:
        total_off, engine_off, off = _page_of(page, f"{live.url}/admin/search?{query}")
        total_on, engine_on, on = _page_of(page, f"{search_live.url}/admin/search?{query}")
        assert (engine_off, engine_on) == ("postgresql", "redisearch"), query
        assert total_on == total_off and on == off, query
        assert off, f"{query} finds somebody"

    # a change made on the card reaches the index: the search answered by RediSearch finds it
    first = on[0]
    page.goto(f"{search_live.url}/admin/customers/{first}")
    page.get_by_label("Город").fill("Омск")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash")).to_have_text("Saved.")
    total, engine, ids = _page_of(page, f"{search_live.url}/admin/search?f.city=омск")
    assert (total, engine, ids) == ("1", "redisearch", [first])


def test_the_index_page_shows_the_status_rebuilds_and_checks(
    page: Page,
    live: LiveServer,
    search_live: LiveServer,
    search_settings: Settings,
    conninfo: str,
    empty_index: None,
    screenshots: Path,
    db: psycopg.Connection[Any],
) -> None:
    customers = seed(conninfo, 25)
    search.init_index(search_settings, load_docs=True)
    login(page, search_live.url, path="/admin/index")
    expect(page.locator("[data-documents]")).to_have_attribute("data-documents", str(len(customers)))
    expect(page.locator("[data-customers]")).to_have_attribute("data-customers", str(len(customers)))
    before = page.locator("[data-index]").get_attribute("data-index")

    page.get_by_role("button", name="Rebuild (migrate)").click()
    task = page.locator(".task")
    expect(task).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(task.locator("[data-result=documents]")).to_have_text(str(len(customers)))
    page.reload()
    after = page.locator("[data-index]").get_attribute("data-index")
    assert after and after != before
    runs = db.execute("SELECT action, status, documents FROM search_index_runs ORDER BY id").fetchall()
    assert runs == [("init", "done", len(customers)), ("migrate", "done", len(customers))]

    page.get_by_label("Repair what differs").check()
    page.get_by_role("button", name="Check consistency").click()
    expect(page.locator(".task")).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(page.locator(".task [data-result=consistent]")).to_have_text("yes")
    expect(page.locator(".task [data-result=customers]")).to_have_text(str(len(customers)))
    page.screenshot(path=screenshots / "index.png", full_page=True)

    # with search off there is nothing to administer, and the page says so (the session holds:
    # both servers have the same tokens, and a cookie belongs to the host whatever the port)
    page.goto(f"{live.url}/admin/search")
    assert page.get_by_role("link", name="Search index").count() == 0
    page.goto(f"{live.url}/admin/index")
    expect(page.locator("main")).to_contain_text("Search is off")
