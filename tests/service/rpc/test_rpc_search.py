"""Customers.find and Customers.search.idx.* over /public/rpc, with search off (PostgreSQL
answers) and on (a real Redis with the search module)."""

from __future__ import annotations

from tests.factories import add_customer
from tests.service.rpc.rpc_client import Rpc

PEOPLE = [
    ("79000000001", {"first_name": "Иван", "last_name": "Петров", "city": "Москва", "birth_date": "1985-03-01"}),
    ("79000000002", {"first_name": "Иванна", "last_name": "Сидорова", "city": "Казань", "birth_date": "1990-07-15"}),
    ("79000000003", {"first_name": "Пётр", "last_name": "Иванов", "city": "Москва", "birth_date": "1979-11-30"}),
    ("79000000004", {"first_name": "Анна", "last_name": "Смирнова", "city": "Омск"}),
]


def _people(conninfo: str) -> list[int]:
    return [add_customer(conninfo, phone=phone, profile=profile)["id"] for phone, profile in PEOPLE]


def _relaxed_find(rpc: Rpc, **given: object) -> dict:
    """A find as the original clients send it: every parameter, null where not given."""
    params = {"query": None, "filters": None, "offset": None, "limit": None, "sort_key": None, "sort_order": None}
    return rpc("Customers.find", **{**params, **given})


def test_find_served_by_postgresql_when_search_is_off(rpc: Rpc, conninfo: str) -> None:
    ids = _people(conninfo)
    everyone = _relaxed_find(rpc)
    assert everyone["total"] == 4 and [c["id"] for c in everyone["items"]] == ids
    assert everyone["engine"] == "postgresql"
    assert everyone["items"][0] == rpc("Customers.get", id=ids[0])  # full records

    moscow = _relaxed_find(
        rpc,
        filters=[{"_type": "Filter", "id": None, "kind": "city", "condition": "eq", "value": "москва"}],
        sort_key="birth_date",
        sort_order="DESC",
    )
    assert [c["id"] for c in moscow["items"]] == [ids[0], ids[2]]
    prefix = _relaxed_find(rpc, query="Ива", offset=1, limit=1)
    assert prefix["total"] == 3 and [c["id"] for c in prefix["items"]] == [ids[1]]


def test_find_validation_names_the_field(rpc: Rpc) -> None:
    unknown = rpc.error("Customers.find", filters=[{"kind": "shoe_colour", "condition": "eq", "value": "red"}])
    assert unknown["code"] == -32702 and unknown["data"]["code"] == "VALIDATION_FAILED"
    assert "filters" in unknown["data"]["errors"][0]["field"]
    assert unknown["data"]["errors"][0]["code"] == "UNKNOWN_FIELD"
    unsortable = rpc.error("Customers.find", sort_key="about")
    assert unsortable["code"] == -32702
    assert rpc.error("Customers.find", limit=5000)["data"]["errors"][0]["code"] == "NUMBER_CONSTRAINT"
    assert rpc.error("Customers.find", filters="city=Москва")["code"] == -32602


def test_index_methods_need_search_on(rpc: Rpc) -> None:
    for method in ("Customers.search.idx.init", "Customers.search.idx.flush", "Customers.search.idx.migrate"):
        error = rpc.error(method)
        assert (error["code"], error["data"]["code"], error["data"]["type"]) == (409, "SEARCH_DISABLED", "Conflict")


def test_index_lifecycle_and_find_with_search_on(search_rpc: Rpc, conninfo: str) -> None:
    rpc = search_rpc
    ids = _people(conninfo)
    assert rpc("Customers.search.idx.init", load_docs=True) == 4
    assert rpc("Customers.search.idx.init", load_docs=None) is None  # it exists now

    found = _relaxed_find(rpc, query="Ива")
    assert found["engine"] == "redisearch"
    assert sorted(c["id"] for c in found["items"]) == [ids[0], ids[1], ids[2]]

    # an RPC write reaches the index through the store's change listeners
    late = rpc("Customers.create", customer={"phone": "79000000005", "profile": {"first_name": "Иваныч"}})["id"]
    again = _relaxed_find(rpc, query="Ива")
    assert again["engine"] == "redisearch" and late in [c["id"] for c in again["items"]]
    rpc("Customers.delete", id=ids[0])
    assert ids[0] not in [c["id"] for c in _relaxed_find(rpc, query="Ива")["items"]]

    assert rpc("Customers.search.idx.migrate", load_docs=None) == 4
    assert _relaxed_find(rpc, filters=[{"kind": "city", "condition": "eq", "value": "Москва"}])["total"] == 1

    assert rpc("Customers.search.idx.flush") >= 1
    after = _relaxed_find(rpc, query="Ива")
    assert after["engine"] == "postgresql" and after["fallback"]
    assert sorted(c["id"] for c in after["items"]) == sorted([ids[1], ids[2], late])
