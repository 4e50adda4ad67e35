"""Index administration against the configured server: init, flush, status, the chunked rebuild
(writes during it, interrupted, crashed), re-indexing and the consistency check, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import httpx
import psycopg
import pytest
import redis
from click.testing import CliRunner

from cli.main import main
from customers import search
from customers.config import Settings
from customers.search.state import IndexState
from tests.factories import add_customers, add_customers_bulk


def _find(api: httpx.Client, **body: object) -> dict:
    response = api.post("/customers/find", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _customers(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "phone": f"+7 913 {(start + i) // 10000:03d}-{(start + i) % 10000:04d}",
            "profile": {"first_name": f"Имя{(start + i) % 7}", "city": ["Москва", "Тверь"][(start + i) % 2]},
        }
        for i in range(n)
    ]


def _indexes(rclient: redis.Redis) -> set[str]:
    return set(rclient.smembers(IndexState.INDEXES))


def test_init_flush_status(env: Settings, conninfo: str, rclient: redis.Redis) -> None:
    add_customers(conninfo, _customers(30))
    assert search.init_index(env, load_docs=True) == 30
    assert search.init_index(env, load_docs=True) is None  # exists: nothing done
    status = search.index_status(env)
    assert status["index"] == rclient.get(IndexState.CURRENT)
    assert (status["documents"], status["customers"]) == (30, 30)
    assert status["last_rebuild"]["action"] == "init" and status["last_rebuild"]["documents"] == 30
    assert status["dialect"] in ("1.x", "2.x")
    assert search.flush_index(env) == 1
    assert rclient.get(IndexState.CURRENT) is None
    assert not list(rclient.scan_iter("cs:*"))  # documents dropped too
    assert search.index_status(env)["index"] is None


def test_migrate_switches_and_drops_the_old_index(env: Settings, conninfo: str, rclient: redis.Redis) -> None:
    add_customers(conninfo, _customers(120))
    search.init_index(env, load_docs=True)
    old = rclient.get(IndexState.CURRENT)
    seen: list[tuple[int, int]] = []
    result = search.migrate_index(
        env.model_copy(update={"search_chunk_size": 50}), progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(50, 120), (100, 120), (120, 120)]
    assert result.previous == old and result.dropped == [old] and result.documents == 120
    assert rclient.get(IndexState.CURRENT) == result.index != old
    assert _indexes(rclient) == {result.index}
    assert not list(rclient.scan_iter(f"{IndexState.doc_prefix(old)}*"))
    assert search.index_status(env)["documents"] == 120


def test_documents_are_unlinked_in_batches(
    env: Settings, conninfo: str, rclient: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the index is dropped alone and its hashes removed batch by batch (one FT.DROP ... DD
    # blocked the server for seconds at a million documents)
    from customers.search import lifecycle

    monkeypatch.setattr(lifecycle, "UNLINK_BATCH", 7)
    add_customers(conninfo, _customers(40))
    search.init_index(env, load_docs=True)
    assert len(list(rclient.scan_iter("cs:*"))) == 40
    rclient.set("cs-other:1", "not ours")  # a key outside the index's prefix stays
    assert search.flush_index(env) == 1
    assert not list(rclient.scan_iter("cs:*"))
    assert rclient.get("cs-other:1") == "not ours"


def test_an_interrupted_drop_is_finished_by_the_next_migrate(
    env: Settings, conninfo: str, rclient: redis.Redis
) -> None:
    add_customers(conninfo, _customers(25))
    search.init_index(env, load_docs=True)
    first = search.migrate_index(env)
    # a drop stopped after the index went: its documents are still there, and it is still listed
    from customers.search.client import probe

    dialect = probe(rclient)
    rclient.execute_command(*dialect.drop(first.index))
    rclient.delete(IndexState.CURRENT)
    assert len(list(rclient.scan_iter(f"{IndexState.doc_prefix(first.index)}*"))) == 25
    second = search.migrate_index(env)
    assert second.documents == 25 and first.index not in _indexes(rclient)
    assert not list(rclient.scan_iter(f"{IndexState.doc_prefix(first.index)}*"))
    assert len(list(rclient.scan_iter(f"{IndexState.doc_prefix(second.index)}*"))) == 25


def test_writes_during_migrate_are_in_the_new_index(
    search_api: httpx.Client, search_settings: Settings, conninfo: str
) -> None:
    add_customers(conninfo, _customers(150))
    search.init_index(search_settings, load_docs=True)
    during: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        if done != 50:
            return
        # searches are answered by the old index meanwhile
        served = _find(search_api, filters=[{"kind": "city", "condition": "eq", "value": "Москва"}], limit=0)
        during["served"] = served
        created = search_api.post("/customers", json={"phone": "+7 999 000-00-01", "profile": {"city": "Казань"}})
        during["created"] = created.json()["id"]
        search_api.patch("/customers/10", json={"profile": {"city": "Казань"}})  # already loaded
        search_api.patch("/customers/140", json={"profile": {"city": "Казань"}})  # not yet loaded
        assert search_api.delete("/customers/20").status_code == 204  # already loaded
        with psycopg.connect(conninfo, autocommit=True) as conn:  # a writer that notifies nobody
            conn.execute(
                """UPDATE customers SET profile = profile || '{"city": "Казань"}', updated_at = now() WHERE id = 5"""
            )

    result = search.migrate_index(search_settings.model_copy(update={"search_chunk_size": 50}), progress=progress)
    assert during["served"]["engine"] == "redisearch" and during["served"]["total"] == 75
    assert result.caught_up >= 1
    kazan = _find(search_api, filters=[{"kind": "city", "condition": "eq", "value": "казань"}])
    assert kazan["engine"] == "redisearch"
    assert sorted(c["id"] for c in kazan["items"]) == sorted([5, 10, 140, during["created"]])
    everyone = _find(search_api, limit=0)
    assert everyone["total"] == 150 and everyone["engine"] == "redisearch"  # 150 + 1 created - 1 deleted
    assert _find(search_api, filters=[{"kind": "id", "condition": "eq", "value": 20}])["total"] == 0


class Interrupted(Exception):
    pass


def test_interrupted_migrate_leaves_the_old_index_serving(
    search_api: httpx.Client, search_settings: Settings, conninfo: str, rclient: redis.Redis
) -> None:
    add_customers(conninfo, _customers(120))
    search.init_index(search_settings, load_docs=True)
    old = rclient.get(IndexState.CURRENT)

    def stop(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        search.migrate_index(search_settings.model_copy(update={"search_chunk_size": 50}), progress=stop)
    assert rclient.get(IndexState.CURRENT) == old
    assert rclient.get(IndexState.BUILDING) is None
    assert _indexes(rclient) == {old}
    assert _find(search_api, limit=0) == {"total": 120, "items": [], "engine": "redisearch", "fallback": None}
    result = search.migrate_index(search_settings)
    assert result.previous == old and result.documents == 120
    assert _indexes(rclient) == {result.index}


def test_a_crashed_migrate_is_finished_cleanly_by_the_next(
    search_api: httpx.Client, search_settings: Settings, conninfo: str, rclient: redis.Redis
) -> None:
    """The process dies half-way (no cleanup at all); the next run drops the leftover."""
    add_customers(conninfo, _customers(120))
    search.init_index(search_settings, load_docs=True)
    old = rclient.get(IndexState.CURRENT)
    script = (
        "import os, sys\n"
        "from customers import search\n"
        "from customers.config import Settings\n"
        "settings = Settings.model_validate_json(sys.stdin.read())\n"
        "def die(done, total):\n"
        "    os._exit(3)\n"
        "search.migrate_index(settings, progress=die)\n"
    )
    crashed = subprocess.run(
        [sys.executable, "-c", script],
        input=search_settings.model_copy(update={"search_chunk_size": 50}).model_dump_json(
            context=None, exclude={"auth_tokens", "services_db_password", "services_redis_password"}
        ),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert crashed.returncode == 3, crashed.stderr
    leftover = rclient.get(IndexState.BUILDING)
    assert leftover is not None and leftover != old
    assert rclient.get(IndexState.CURRENT) == old
    assert _find(search_api, limit=0)["total"] == 120  # still served by the old index
    result = search.migrate_index(search_settings)
    assert result.index not in (old, leftover) and result.documents == 120
    assert _indexes(rclient) == {result.index}
    assert rclient.get(IndexState.BUILDING) is None
    with psycopg.connect(conninfo) as conn:
        statuses = dict(conn.execute("SELECT index_name, status FROM search_index_runs").fetchall())
    assert statuses[leftover] == "failed" and statuses[result.index] == "done"


def test_one_rebuild_at_a_time(env: Settings, conninfo: str) -> None:
    add_customers(conninfo, _customers(60))
    search.init_index(env, load_docs=True)
    outcome: list[Exception] = []

    def try_another(done: int, total: int) -> None:
        if not outcome:
            try:
                search.migrate_index(env)
            except Exception as exc:  # noqa: BLE001 - the assertion below names it
                outcome.append(exc)

    search.migrate_index(env.model_copy(update={"search_chunk_size": 20}), progress=try_another)
    assert isinstance(outcome[0], search.SearchBusy)


def test_reindex_since_after_a_bulk_load(search_api: httpx.Client, search_settings: Settings, conninfo: str) -> None:
    add_customers(conninfo, _customers(10))
    search.init_index(search_settings, load_docs=True)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        since = conn.execute("SELECT now()").fetchone()[0]
    # a bulk import writes with COPY and notifies nobody
    add_customers_bulk(conninfo, ({"phone": f"7914000{g:04d}", "profile": {"city": "Омск"}} for g in range(1, 41)))
    assert _find(search_api, filters=[{"kind": "city", "condition": "eq", "value": "омск"}], limit=0)["total"] == 0
    assert search.reindex_since(search_settings, since) == 40
    assert _find(search_api, filters=[{"kind": "city", "condition": "eq", "value": "омск"}], limit=0)["total"] == 40
    assert search.reindex_ids(search_settings, [1, 2, 999]) == 2


def test_consistency_check_and_repair(env: Settings, conninfo: str, rclient: redis.Redis) -> None:
    add_customers(conninfo, _customers(40))
    search.init_index(env, load_docs=True)
    clean = search.check_consistency(env, sample=40)
    assert clean.consistent and clean.sampled == 40 and (clean.customers, clean.documents) == (40, 40)
    index = rclient.get(IndexState.CURRENT)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("""UPDATE customers SET profile = '{"city": "Ялта"}' WHERE id = 3""")  # drift
        conn.execute("DELETE FROM customers WHERE id = 4")  # stale document
    client = search.SearchRuntime  # noqa: F841 - the API surface used by the jobs
    dialect_cmd = (
        ("FT.DEL", index, IndexState.doc_key(index, 5), "DD")
        if search.index_status(env)["dialect"] == "1.x"
        else ("DEL", IndexState.doc_key(index, 5))
    )
    rclient.execute_command(*dialect_cmd)  # missing document
    report = search.check_consistency(env, sample=40)
    assert not report.consistent
    assert (report.drifted, report.missing, report.stale) == ([3], [5], [4])
    repaired = search.repair_consistency(env, sample=40)
    assert repaired.repaired >= 2
    assert search.check_consistency(env, sample=40).consistent


def test_cli_commands(env: Settings, conninfo: str) -> None:
    add_customers(conninfo, _customers(25))
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, ["search", *args], obj={"settings": env})

    first = run("init", "--load-docs", "--json")
    assert first.exit_code == 0, first.output
    assert '"loaded": 25' in first.output
    assert "already exists" in run("init").output
    status = run("status")
    assert status.exit_code == 0 and "25 documents / 25 customers" in status.output
    migrated = run("migrate")
    assert migrated.exit_code == 0 and "25 documents" in migrated.output
    assert run("check").exit_code == 0
    assert run("flush", "--yes").exit_code == 0
    assert "index (none)" in run("status").output
    off = runner.invoke(main, ["search", "status"], obj={"settings": env.model_copy(update={"search_enabled": False})})
    assert off.exit_code == 1 and "search is disabled" in off.output


def test_http_admin_endpoints(search_api: httpx.Client, reader_api: httpx.Client, conninfo: str) -> None:
    add_customers(conninfo, _customers(15))
    assert reader_api.post("/search/index/init").status_code == 403
    assert search_api.post("/search/index/init", params={"load_docs": True}).json() == {"created": True, "loaded": 15}
    status = search_api.get("/search/index/status").json()
    assert (status["documents"], status["customers"]) == (15, 15)
    migrated = search_api.post("/search/index/migrate").json()
    assert migrated["documents"] == 15 and migrated["dropped"] == [status["index"]]
    assert search_api.post("/search/index/consistency").json()["consistent"] is True
    assert search_api.post("/search/index/flush").json() == {"dropped": 1}
    # no index: PostgreSQL answers, and says why
    result = _find(search_api, limit=0)
    assert result["engine"] == "postgresql" and "no search index" in result["fallback"] and result["total"] == 15
