"""Fixtures of the admin page's browser tests: one headless Chromium (Debian's, at
/usr/bin/chromium: Playwright's own browser download is never used) for all of them, a fresh
page per test, and the live services of the root fixtures.

Screenshots: with CUSTOMERS_ADMIN_SCREENSHOTS=<folder> set, the tests that show a page save it
there (docs/admin/ holds the committed ones); otherwise they go to a temp folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright

from customers.config import Settings
from tests.conftest import LiveServer, start_server
from tests.helpers import ADMIN_TOKEN, READER_TOKEN

CHROMIUM = os.environ.get("CUSTOMERS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
SCREENSHOTS_ENV = "CUSTOMERS_ADMIN_SCREENSHOTS"


class SharedBrowser:
    """One Chromium for all the admin page's tests, started by the first that needs it and
    stopped after the last of them (see `pytest_runtest_teardown`)."""

    def __init__(self) -> None:
        self.driver: Playwright | None = None
        self.context: BrowserContext | None = None

    def get(self, profile: Path) -> BrowserContext:
        if self.context is None:
            if not Path(CHROMIUM).is_file():
                pytest.fail(f"Chromium is required at {CHROMIUM} (scripts/test installs Debian's chromium)")
            self.driver = sync_playwright().start()
            self.context = self.driver.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=WIDE,
                locale="en-GB",
                accept_downloads=True,
            )
            self.context.set_default_timeout(15_000)
        return self.context

    def stop(self) -> None:
        if self.context is not None:
            self.context.close()
            self.context = None
        if self.driver is not None:
            self.driver.stop()
            self.driver = None


_shared = SharedBrowser()
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last admin test in a row (and its fixtures' teardown), stop the browser:
    Playwright's synchronous API keeps an event loop running in the test thread while its driver
    is open, and the rest of the suite starts event loops of its own there (`asyncio.run` in the
    factories)."""
    try:
        yield
    finally:
        if nextitem is None or not Path(nextitem.path).resolve().is_relative_to(HERE):
            _shared.stop()


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> BrowserContext:
    """Debian's Chromium, headless, with a fresh profile in the session's temp folder."""
    return _shared.get(tmp_path_factory.mktemp("chromium-profile"))


class PageProblems:
    """What went wrong inside the page: script errors, what the Content-Security-Policy refused,
    and dialogs (an alert is a script run)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error" and ("Content Security Policy" in message.text or "Refused" in message.text):
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A fresh tab without cookies, 1280 px wide; fails the test on a script error in the page."""
    browser.clear_cookies()
    tab = browser.new_page()
    tab.set_viewport_size(WIDE)
    problems = PageProblems(tab)
    tab.problems = problems  # type: ignore[attr-defined]
    yield tab
    tab.close()
    assert not problems.errors, f"script errors in the page: {problems.errors}"
    assert not problems.dialogs, f"dialogs opened by a script: {problems.dialogs}"


def login(page: Page, url: str, token: str = ADMIN_TOKEN, path: str = "/admin/search") -> None:
    """Log in through the form, as a person does."""
    page.goto(f"{url}{path}")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}{path}*")


@pytest.fixture
def admin_page(page: Page, live: LiveServer, clean_db: None) -> Page:
    """A page logged in with the admin token, on an empty database."""
    login(page, live.url, ADMIN_TOKEN)
    return page


@pytest.fixture
def reader_page(page: Page, live: LiveServer, clean_db: None) -> Page:
    """A page logged in with the reader token, on an empty database."""
    login(page, live.url, READER_TOKEN)
    return page


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save the pages they show."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def db(conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection of the test's own, to check what the database holds."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def open_live(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service with no tokens configured (open mode, loopback only)."""
    from pydantic import SecretStr

    from cli.app import create_app

    server = start_server(create_app(settings.model_copy(update={"auth_tokens": SecretStr("")})))
    yield server
    server.stop()
