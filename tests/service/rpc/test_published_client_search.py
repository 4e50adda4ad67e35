"""Customers.find and Customers.search.idx.* driven by the original service's published client,
with search off (PostgreSQL answers) and on (the suite's Redis with the search module: RediSearch
1.2 by default, 2.x in the `CUSTOMERS_TEST_REDISEARCH=2` run of scripts/test).

`find` answers the page itself, a JSON array of customer records, which the client converts one
by one; `flush` answers null, `init` the documents loaded or null, `migrate` the documents
loaded (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN
from tests.service.rpc.published_client import Conflict, Customer, Published, published_client
from tests.service.rpc.rpc_client import Rpc

PEOPLE: list[tuple[str, dict[str, Any]]] = [
    ("79001260001", {"first_name": "Иван", "last_name": "Петров", "city": "Москва", "birth_date": "1985-03-01"}),
    ("79001260002", {"first_name": "Иванна", "last_name": "Сидорова", "city": "Казань", "birth_date": "1990-07-15"}),
    ("79001260003", {"first_name": "Пётр", "last_name": "Иванов", "city": "Москва", "birth_date": "1979-11-30"}),
    ("79001260004", {"first_name": "Анна", "last_name": "Смирнова", "city": "Омск"}),
]
SOURCES = ["LEG-007-0000028", "Склад №261 «Центральный»", "app-ios-43", None]


@pytest.fixture
def published(live: LiveServer, clean_db: None) -> Iterator[Published]:
    """The published client as an admin of the live service (search off), on an empty database."""
    with published_client(live.url, ADMIN_TOKEN) as opened:
        yield opened


@pytest.fixture
def search_published(rpc_search_live: LiveServer, search_rpc: Rpc) -> Iterator[Published]:
    """The published client as an admin of the live service with search on; `search_rpc` has
    emptied the database and Redis for the test."""
    with published_client(rpc_search_live.url, ADMIN_TOKEN) as opened:
        yield opened


def people(published: Published, *, sources: bool = False) -> list[int]:
    """Ids of the PEOPLE, created with the client (with the SOURCES as their source_id if asked)."""
    created = []
    for (phone, profile), source in zip(PEOPLE, SOURCES, strict=True):
        customer = {"phone": phone, "profile": profile}
        if sources and source is not None:
            customer["source_id"] = source
        created.append(published.run(published.client.create(customer)).id)
    return created


def found(published: Published, **request: Any) -> list[int]:
    """The ids of the page `find` answers, each record converted by the client."""
    page = published.run(published.client.find(**request))
    assert all(type(customer) is Customer.__base_type__ for customer in page)
    return [customer.id for customer in page]


def check_find(published: Published, ids: list[int]) -> None:
    """Free text, filters, paging and sorting over the PEOPLE, as the original answers them."""
    client, run = published.client, published.run
    everyone = run(client.find())  # the client's defaults: query "", offset 0, limit 100
    assert [customer.id for customer in everyone] == ids
    assert everyone[0] == run(client.get(ids[0]))  # full records, the same the client gets by id

    assert found(published, query="Ива") == ids[:3]
    assert found(published, query="иван пет") == [ids[0]]
    assert found(published, query="Ива", offset=1, limit=1) == [ids[1]]
    moscow = [{"id": "f1", "kind": "city", "condition": "eq", "value": "москва"}]
    assert found(published, filters=moscow, sort_key="birth_date", sort_order="desc") == [ids[0], ids[2]]
    born = [{"id": "f2", "kind": "birth_date", "condition": "between", "value": ["1980-01-01", "1999-12-31"]}]
    assert found(published, query="Ива", filters=born) == [ids[0], ids[1]]

    assert found(published, sort_key="last_name", sort_order="asc", limit=2) == [ids[2], ids[0]]
    assert found(published, sort_key="last_name", sort_order="asc", offset=2, limit=2) == [ids[1], ids[3]]
    # without a birth date: last ascending, first descending
    assert found(published, sort_key="birth_date", sort_order="desc") == [ids[3], ids[1], ids[0], ids[2]]
    assert found(published, sort_key="birth_date", sort_order="asc", offset=3) == [ids[3]]
    assert found(published, query="Ярослав") == []


def check_find_by_source_id(published: Published, ids: list[int]) -> None:
    for source, expected in zip(SOURCES[:3], ids[:3], strict=True):
        by_source = [{"id": "src", "kind": "source_id", "condition": "eq", "value": source}]
        page = published.run(published.client.find(filters=by_source))
        assert [(customer.id, customer.source_id) for customer in page] == [(expected, source)]


def rest_find(rpc: Rpc, **request: Any) -> tuple[str, list[int]]:
    """Which engine answers a find, and the ids it finds: REST `POST /customers/find` says which
    engine answered (the RPC answer does not), so the tests know RediSearch was asked."""
    response = rpc.client.post("/customers/find", json=request)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["engine"], [customer["id"] for customer in body["items"]]


def test_find_served_by_postgresql(published: Published) -> None:
    check_find(published, people(published))


def test_find_by_source_id_served_by_postgresql(published: Published) -> None:
    check_find_by_source_id(published, people(published, sources=True))


def test_index_methods_need_search_on(published: Published) -> None:
    client, run = published.client, published.run
    for call in (client.init_search_index(), client.flush_search_index(), client.migrate_search_index()):
        with pytest.raises(Conflict) as disabled:
            run(call)
        assert (disabled.value.status_code, disabled.value.data["code"]) == (409, "SEARCH_DISABLED")


def test_index_init_and_migrate(search_published: Published, search_rpc: Rpc, conninfo: str) -> None:
    client, run = search_published.client, search_published.run
    ids = people(search_published)
    assert run(client.init_search_index()) == 4  # the client loads the documents unless told otherwise
    assert run(client.init_search_index()) is None  # it exists now
    assert rest_find(search_rpc, query="Ива") == ("redisearch", ids[:3])

    late = run(client.create({"phone": "79001260005", "profile": {"first_name": "Иваныч"}})).id
    assert run(client.migrate_search_index(load_docs=True)) == 5
    assert rest_find(search_rpc, query="Ива") == ("redisearch", [*ids[:3], late])

    # the client's own default (load_docs=False) on customers last changed long ago: the new
    # version still holds every one of them, the search keeps finding them all
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("UPDATE customers SET updated_at = now() - interval '1 day'")
    assert run(client.migrate_search_index()) == 5
    assert rest_find(search_rpc, query="Ива") == ("redisearch", [*ids[:3], late])


def test_index_flush_answers_null(search_published: Published, search_rpc: Rpc) -> None:
    client, run = search_published.client, search_published.run
    ids = people(search_published)
    assert run(client.init_search_index()) == 4
    assert run(client.flush_search_index()) is None
    assert rest_find(search_rpc, query="Ива") == ("postgresql", ids[:3])  # no index: PostgreSQL answers
    assert run(client.init_search_index(load_docs=False)) == 0  # a new, empty one
    assert run(client.flush_search_index()) is None
    assert rest_find(search_rpc, query="Ива") == ("postgresql", ids[:3])


def test_find_served_by_redisearch(search_published: Published, search_rpc: Rpc) -> None:
    ids = people(search_published)
    assert search_published.run(search_published.client.init_search_index()) == 4
    assert rest_find(search_rpc, query="Ива", sort_key="last_name") == ("redisearch", [ids[2], ids[0], ids[1]])
    check_find(search_published, ids)


def test_find_by_source_id_served_by_redisearch(search_published: Published, search_rpc: Rpc) -> None:
    ids = people(search_published, sources=True)
    assert search_published.run(search_published.client.init_search_index()) == 4
    by_source = [{"kind": "source_id", "condition": "eq", "value": "app-ios-43"}]
    assert rest_find(search_rpc, filters=by_source) == ("redisearch", [ids[2]])
    check_find_by_source_id(search_published, ids)
