"""The imports page in the browser: an upload with bad rows, its report against the database, the
rejects download, a dry run, progress on a bigger file; the upload's own size limit."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page, expect

from customers.config import Settings
from tests.conftest import LiveServer, start_server
from tests.helpers import ADMIN_TOKEN

ROWS = [
    ("phone", "email", "first_name", "birth_date", "children_count"),
    ("+7 916 200-00-01", "a1@example.ru", "Анна", "1990-01-01", "1"),
    ("79162000002", "", "Иван", "02.03.1985", ""),
    ("8 (916) 200-00-03", "a3@example.ru", "Мария", "", ""),
    ("not-a-phone", "", "Пётр", "1990-01-01", ""),
    ("79162000005", "", "Олег", "31.02.2020", ""),
    ("79162000006", "", "Лев", "", "25"),
    ("79162000002", "", "Иван второй", "", ""),
]


def _write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    return path


def _upload(page: Page, url: str, path: Path, *, mode: str = "insert", dry_run: bool = False) -> None:
    page.goto(f"{url}/admin/imports")
    page.get_by_label("CSV or Parquet file").set_input_files(path)
    page.get_by_label("Mode").select_option(mode)
    if dry_run:
        page.get_by_label("Dry run").check()
    page.get_by_role("button", name="Upload and import").click()


def _counts(page: Page) -> dict[str, int]:
    cells = page.locator("#import-task td[data-count]")
    return {
        cells.nth(i).get_attribute("data-count") or "": int(cells.nth(i).inner_text()) for i in range(cells.count())
    }


def test_an_upload_with_bad_rows_reports_what_the_database_holds_and_its_rejects_download(
    admin_page: Page, live: LiveServer, db: psycopg.Connection[Any], tmp_path: Path, screenshots: Path
) -> None:
    page = admin_page
    _upload(page, live.url, _write_csv(tmp_path / "legacy customers.csv", ROWS))
    expect(page.locator("#import-task .task")).to_have_attribute("data-status", "succeeded", timeout=30_000)

    shown = _counts(page)
    assert shown == {"read": 7, "inserted": 3, "updated": 0, "unchanged": 0, "rejected": 3, "duplicates": 1}
    run = db.execute(
        "SELECT id, status, rows_read, inserted, updated, unchanged, rejected, duplicates, file FROM import_runs"
    ).fetchone()
    assert run is not None
    run_id, status, *counts, file = run
    assert status == "succeeded"
    assert (
        dict(zip(("read", "inserted", "updated", "unchanged", "rejected", "duplicates"), counts, strict=True)) == shown
    )
    assert Path(file).name == "legacy customers.csv"
    assert not Path(file).exists(), "the uploaded file is removed once imported"
    phones = [r[0] for r in db.execute("SELECT phone FROM customers ORDER BY phone")]
    assert phones == ["79162000001", "79162000002", "79162000003"]
    by_code = {
        code: int(page.locator(f"td[data-reject-code='{code}']").inner_text())
        for code in ("DUPLICATE_PHONE", "INVALID_FORMAT", "NUMBER_CONSTRAINT")
    }
    assert by_code == {"DUPLICATE_PHONE": 1, "INVALID_FORMAT": 2, "NUMBER_CONSTRAINT": 1}
    # the history below follows: the run is listed as soon as it ends
    expect(page.locator(f"#history tr[data-run='{run_id}']")).to_contain_text("succeeded")
    page.screenshot(path=screenshots / "imports.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejects (CSV)").click()
    rejects = list(csv.DictReader(Path(download.value.path()).read_text(encoding="utf-8").splitlines()))
    assert download.value.suggested_filename == f"rejects-run-{run_id}.csv"
    assert [(r["row"], r["column"], r["code"]) for r in rejects] == [
        ("5", "phone", "INVALID_FORMAT"),
        ("6", "birth_date", "INVALID_FORMAT"),
        ("7", "children_count", "NUMBER_CONSTRAINT"),
        ("8", "phone", "DUPLICATE_PHONE"),
    ]

    # the history, from the database, and the run's own page with the same report
    page.goto(f"{live.url}/admin/imports")
    row = page.locator(f"tr[data-run='{run_id}']")
    expect(row).to_contain_text("legacy customers.csv")
    expect(row).to_contain_text("succeeded")
    row.get_by_role("link", name=str(run_id)).click()
    expect(page.locator("td[data-count=rejected]")).to_have_text("3")
    expect(page.get_by_role("link", name="Download the rejects (CSV)")).to_be_visible()
    page.screenshot(path=screenshots / "import-run.png", full_page=True)


def test_a_dry_run_counts_and_writes_nothing(
    admin_page: Page, live: LiveServer, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    page = admin_page
    _upload(page, live.url, _write_csv(tmp_path / "dry.csv", ROWS), mode="upsert", dry_run=True)
    task = page.locator("#import-task .task")
    expect(task).to_have_attribute("data-status", "succeeded", timeout=30_000)
    expect(task).to_contain_text("nothing was written")
    assert _counts(page)["inserted"] == 3
    assert db.execute("SELECT count(*) FROM customers").fetchone() == (0,)
    assert db.execute("SELECT status, mode FROM import_runs").fetchone() == ("dry_run", "upsert")


def test_a_file_of_many_megabytes_streams_in_and_its_progress_shows(
    admin_page: Page, live: LiveServer, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    page = admin_page
    rows = 300_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("phone,first_name,city\n")
        out.writelines(f"7917{n:07d},Имя{n % 1000},Город{n % 50}\n" for n in range(rows))
    assert path.stat().st_size > 5 * 1024 * 1024  # far past the API's 1 MiB body limit
    polled: list[str] = []
    page.on(
        "response",
        lambda r: polled.append(r.text()) if "/admin/imports/tasks/" in r.url and r.ok else None,
    )
    _upload(page, live.url, path)
    expect(page.locator("#import-task .task")).to_have_attribute("data-status", "succeeded", timeout=120_000)
    assert any(re.search(r'data-status="running"', html) and "rows read" in html for html in polled), (
        "the page showed the import's progress while it ran"
    )
    assert _counts(page)["inserted"] == rows
    assert db.execute("SELECT count(*) FROM customers").fetchone() == (rows,)


@pytest.fixture(scope="module")
def small_uploads(settings: Settings) -> Iterator[LiveServer]:
    """The service with a 4 KB upload limit."""
    from cli.app import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADMIN_UPLOAD_MAX_BYTES", "4096")
        app = create_app(settings)
    server = start_server(app)
    yield server
    server.stop()


def _log_in(client: httpx.Client) -> str:
    """Log the client in as an admin; the session's CSRF token, as the imports page holds it."""
    client.post("/admin/login", data={"token": ADMIN_TOKEN, "next": "/admin/imports"})
    page = client.get("/admin/imports")
    match = re.search(r'data-csrf="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_an_upload_past_its_limit_is_refused_and_nothing_is_kept(
    small_uploads: LiveServer, settings: Settings, clean_db: None, db: psycopg.Connection[Any]
) -> None:
    with httpx.Client(base_url=small_uploads.url, timeout=30) as client:
        csrf = _log_in(client)
        tasks = settings.customers_data_dir.resolve() / "admin" / "tasks"
        before = set(tasks.iterdir()) if tasks.is_dir() else set()
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"}
        line = b"79160000000,Name\n"
        too_big = b"phone,first_name\n" + line * 400

        declared = client.post("/admin/imports/upload?name=a.csv", content=too_big, headers=headers)
        assert declared.status_code == 413 and declared.json()["code"] == "PAYLOAD_TOO_LARGE"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield too_big[:3000]
            yield too_big[3000:]

        streamed = client.post("/admin/imports/upload?name=a.csv", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        assert set(tasks.iterdir()) == before, "the refused uploads left nothing behind"

        refused = client.post("/admin/imports/upload?name=a.exe", content=b"x", headers=headers)
        assert refused.status_code == 422 and "CSV or Parquet" in refused.text

        small = client.post("/admin/imports/upload?name=a.csv", content=b"phone,first_name\n" + line, headers=headers)
        assert small.status_code == 202, small.text
        assert len(set(tasks.iterdir()) - before) == 1
    assert db.execute("SELECT count(*) FROM customers WHERE phone <> '79160000000'").fetchone() == (0,)
