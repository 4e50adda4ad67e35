"""The measured RediSearch 1.2 traps (docs/search.md), each met by the layer, on the configured
server. (Replace keeping stale fields: test_search_sync; unknown fields, unsortable keys, the
page window, `LIMIT 0 0` and escaping: test_search_find; two negations side by side:
test_search_agreement and test_search_find.)"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import httpx
import psycopg
import redis

from customers import search
from customers.config import Settings
from customers.questionnaire_document import default_document
from customers.search.client import connect
from customers.search.state import IndexState
from tests.factories import add_customers, add_customers_bulk


def _find(api: httpx.Client, **body: object) -> dict:
    response = api.post("/customers/find", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_prefix_beyond_200_expansions_finds_everyone(
    search_api: httpx.Client, search_settings: Settings, conninfo: str, rclient: redis.Redis
) -> None:
    letters = "абвгдежзийклмнопрстуфхцчшщ"
    names = [f"Ива{letters[i % 26]}{letters[i // 26]}" for i in range(260)]
    assert len(set(names)) == 260
    add_customers(
        conninfo, [{"phone": f"+7 915 000-{i:04d}", "profile": {"first_name": n}} for i, n in enumerate(names)]
    )
    search.init_index(search_settings, load_docs=True)
    index = rclient.get(IndexState.CURRENT)
    native = int(rclient.execute_command("FT.SEARCH", index, "@first_name:ива*", "NOCONTENT", "LIMIT", 0, 1)[0])
    assert native < 260  # the server's own expansion drops terms silently
    for body in ({"query": "ива"}, {"filters": [{"kind": "first_name", "condition": "prefix", "value": "ИВА"}]}):
        result = _find(search_api, **body, limit=0)
        assert (result["engine"], result["total"]) == ("redisearch", 260)


def test_a_bad_number_in_the_data_does_not_break_the_load(
    search_api: httpx.Client, search_settings: Settings, conninfo: str, api: httpx.Client
) -> None:
    """Legacy rows may hold a string where the questionnaire now wants a number: such a value
    is left out of the document (1.2 would write the hash and refuse to index it)."""
    add_customers(conninfo, [{"phone": "+7 916 000-00-01", "profile": {"children_count": 2}}])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # a legacy row the store would refuse: written with SQL, not through the factory
        conn.execute(
            "INSERT INTO customers (phone, profile) VALUES "
            """('79160000002', '{"children_count": "many", "shoe_size": "NaN", "birth_date": "31/12/1990"}')"""
        )
    assert search.init_index(search_settings, load_docs=True) == 2
    for body in (
        {"filters": [{"kind": "children_count", "condition": "exists", "value": False}]},
        {"filters": [{"kind": "children_count", "condition": "gte", "value": 0}]},
        {"filters": [{"kind": "birth_date", "condition": "exists"}]},
    ):
        on, off = _find(search_api, **body), _find(api, **body)
        assert on["engine"] == "redisearch" and off["engine"] == "postgresql"
        assert [c["id"] for c in on["items"]] == [c["id"] for c in off["items"]]
    assert [
        c["phone"]
        for c in _find(search_api, filters=[{"kind": "children_count", "condition": "exists", "value": False}])["items"]
    ] == ["79160000002"]
    assert search.check_consistency(search_settings).consistent


def test_an_index_older_than_the_questionnaire_is_not_trusted(
    search_api: httpx.Client, search_settings: Settings
) -> None:
    search_api.post("/customers", json={"phone": "+7 917 000-00-01", "meta": {"registration_store": "Склад №5"}})
    search_api.post("/search/index/init", params={"load_docs": True})
    document = default_document().model_dump(exclude_none=True)
    changed = copy.deepcopy(document)
    for spec in changed["meta_fields"]:
        if spec["key"] == "registration_store":
            spec["search"] = "tag"
    assert search_api.put("/settings", json=changed).status_code == 200
    body = {"filters": [{"kind": "meta.registration_store", "condition": "eq", "value": "склад №5"}]}
    stale = _find(search_api, **body)
    # RediSearch would answer 0 hits for the field it does not know; PostgreSQL answers instead
    assert stale["engine"] == "postgresql" and "migrate" in stale["fallback"] and stale["total"] == 1
    search.migrate_index(search_settings)
    fresh = _find(search_api, **body)
    assert fresh["engine"] == "redisearch" and fresh["total"] == 1, fresh["fallback"]
    search_api.post("/settings/reset")


def test_missing_sort_values_sort_last_ascending_first_descending(search_api: httpx.Client, api: httpx.Client) -> None:
    search_api.post("/search/index/init")
    ids = [
        search_api.post("/customers", json={"phone": f"+7 918 000-00-0{i}", "profile": profile}).json()["id"]
        for i, profile in enumerate(
            [{"birth_date": "1990-01-01"}, {}, {"birth_date": "1980-01-01"}, {}, {"birth_date": "2000-01-01"}]
        )
    ]
    for order, expected_head, expected_tail in (
        ("asc", [ids[2], ids[0], ids[4]], {ids[1], ids[3]}),
        ("desc", [ids[4], ids[0], ids[2]], {ids[1], ids[3]}),
    ):
        for client, engine in ((search_api, "redisearch"), (api, "postgresql")):
            result = _find(client, sort_key="birth_date", sort_order=order)
            got = [c["id"] for c in result["items"]]
            assert result["engine"] == engine
            if order == "asc":
                assert got[:3] == expected_head and set(got[3:]) == expected_tail
            else:
                assert set(got[:2]) == expected_tail and got[2:] == expected_head


def test_clients_speak_resp2(search_settings: Settings, rclient: redis.Redis) -> None:
    client = connect(search_settings)
    try:
        assert client.get_connection_kwargs()["protocol"] == 2
        status = search.index_status(search_settings)
        if status["dialect"] == "1.x":
            rclient.execute_command("FT.CREATE", "resp3_probe", "SCHEMA", "t", "TEXT")
            rclient.execute_command("FT.ADD", "resp3_probe", "d1", 1.0, "FIELDS", "t", "hello")
            resp3 = redis.Redis(
                host=search_settings.services_redis_host, port=search_settings.services_redis_port, protocol=3
            )
            try:
                outcome = resp3.ft("resp3_probe").search("hello")
                broken = not (getattr(outcome, "total", None) == 1 and outcome.docs[0].id == "d1")
            except Exception:  # noqa: BLE001 - a crash is the other form of the trap
                broken = True
            resp3.close()
            assert broken  # RESP3 replies of 1.2 are not understood by redis-py's search parsers
            found = client.ft("resp3_probe").search("hello")
            assert found.total == 1 and found.docs[0].id == "d1"
    finally:
        client.close()


def test_a_timed_out_query_is_answered_by_postgresql(
    tmp_path: Path, settings: Settings, clean_db: None, conninfo: str
) -> None:
    """A 1.2 server loaded with `TIMEOUT 1 ON_TIMEOUT fail`: a deep sorted page over 10,000
    documents times out into an error, and PostgreSQL answers instead (never a partial page)."""
    import asyncio

    from customers.questionnaire import Questionnaire
    from tests.customers.search.conftest import OwnRedis

    server = OwnRedis(tmp_path, "TIMEOUT", "1", "ON_TIMEOUT", "fail")
    server.start()
    try:
        config = settings.model_copy(update={"search_enabled": True, "services_redis_port": server.port})
        add_customers_bulk(
            conninfo,
            (
                {
                    "phone": f"7919{g:07d}",
                    "profile": {"city": f"Город {g % 50}"},
                    "created": dt.date(2020, 1, 1) + dt.timedelta(days=g % 1000),
                }
                for g in range(1, 10_001)
            ),
        )
        assert search.init_index(config, load_docs=True) == 10_000
        request = search.FindRequest(sort_key="created", sort_order="desc", offset=9_980, limit=20)

        async def run(runtime_on: bool) -> search.FindResult:
            runtime = search.SearchRuntime.open(config) if runtime_on else None
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    return await search.find(conn, Questionnaire.default(), request, settings=config, runtime=runtime)
            finally:
                if runtime is not None:
                    await runtime.close()

        answered, exact = asyncio.run(run(True)), asyncio.run(run(False))
        assert answered.engine == "postgresql" and "timed out" in (answered.fallback or "")
        assert (answered.total, answered.items) == (exact.total, exact.items) and len(exact.items) == 20
    finally:
        server.stop()
