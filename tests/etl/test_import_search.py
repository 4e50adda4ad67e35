"""After a committed import with search on, the imported and updated customers are in the index;
with Redis unreachable the import still succeeds and says the index was not updated."""

from __future__ import annotations

from pathlib import Path

import redis

from customers import search
from customers.config import Settings
from etl.pipeline import ImportOptions, import_file, publish

CSV = """phone,first_name,city
+7 912 000 10 01,Иван,Казань
8 912 000 10 02,Мария,Москва
79120001003,Пётр,Тверь
"""


def _fresh_index(settings: Settings) -> None:
    client = redis.Redis(host=settings.services_redis_host, port=settings.services_redis_port, protocol=2)
    client.flushdb()
    client.close()
    search.init_index(settings)


def test_imported_and_updated_customers_reach_the_index(
    search_settings: Settings, conninfo: str, clean_db: None, tmp_path: Path
) -> None:
    _fresh_index(search_settings)
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    report = import_file(conninfo, path, ImportOptions())
    publish(report, search_settings)
    assert (report.counts.inserted, report.search_indexed, report.search_error) == (3, 3, None)
    status = search.index_status(search_settings)
    assert (status["documents"], status["customers"]) == (3, 3)

    path.write_text(CSV.replace("Тверь", "Псков"), encoding="utf-8")
    update = import_file(conninfo, path, ImportOptions(mode="upsert"))
    publish(update, search_settings)
    assert update.counts.updated == 1 and update.search_indexed == 1
    consistency = search.check_consistency(search_settings, sample=10)
    assert (consistency.drifted, consistency.missing, consistency.stale) == ([], [], [])


def test_import_succeeds_when_the_index_cannot_be_reached(
    search_settings: Settings, conninfo: str, clean_db: None, tmp_path: Path
) -> None:
    from tests.conftest import free_port

    down = search_settings.model_copy(update={"services_redis_port": free_port()})
    path = tmp_path / "customers.csv"
    path.write_text(CSV, encoding="utf-8")
    report = import_file(conninfo, path, ImportOptions())
    publish(report, down)
    assert report.status == "succeeded" and report.counts.inserted == 3
    assert report.search_indexed is None and report.search_error
    assert any("search index NOT updated" in line for line in report.lines())
