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


def _relaxed_find(rpc: Rpc, **given: object) -> list[dict]:
    """A find as the original clients send it: every parameter, null where not given."""
    params = {"query": None, "filters": None, "offset": None, "limit": None, "sort_key": None, "sort_order": None}
    return rpc("Customers.find", **{**params, **given})


def _client_find(rpc: Rpc, **given: object) -> list[dict]:
    """A find as the published client sends it: its defaults are query "", filters null, offset
    0, limit 100, no sort key, and `sort_order` in lower case."""
    params = {"query": "", "filters": None, "offset": 0, "limit": 100, "sort_key": None, "sort_order": None}
    return rpc("Customers.find", **{**params, **given})


def _rest_find(rpc: Rpc, **body: object) -> dict:
    """The same find over REST on the same service: {total, items, engine, fallback}."""
    response = rpc.client.post("/customers/find", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(found: list[dict]) -> list[int]:
    return [c["id"] for c in found]


def test_find_served_by_postgresql_when_search_is_off(rpc: Rpc, conninfo: str) -> None:
    ids = _people(conninfo)
    everyone = _relaxed_find(rpc)
    # the original's answer: the page as an array of full records, no total
    assert isinstance(everyone, list) and _ids(everyone) == ids
    assert everyone[0] == rpc("Customers.get", id=ids[0])
    assert _client_find(rpc) == everyone

    moscow = {"filters": [{"kind": "city", "condition": "eq", "value": "москва"}], "sort_key": "birth_date"}
    tagged = [{"_type": "Filter", "id": None, **moscow["filters"][0]}]
    assert _ids(_relaxed_find(rpc, filters=tagged, sort_key="birth_date", sort_order="DESC")) == [ids[0], ids[2]]
    assert _ids(_client_find(rpc, **moscow, sort_order="desc")) == [ids[0], ids[2]]
    assert _ids(_client_find(rpc, **moscow, sort_order="asc")) == [ids[2], ids[0]]
    assert _ids(_relaxed_find(rpc, query="Ива", offset=1, limit=1)) == [ids[1]]
    assert _ids(_client_find(rpc, query="Ива", offset=1, limit=1)) == [ids[1]]
    assert _client_find(rpc, query="Ива", offset=3) == []
    # REST keeps its own answer, with the total
    rest = _rest_find(rpc, query="Ива", offset=1, limit=1)
    assert rest["total"] == 3 and _ids(rest["items"]) == [ids[1]] and rest["engine"] == "postgresql"


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
    assert _rest_find(rpc, query="Ива")["engine"] == "redisearch"
    assert _ids(found) == [ids[0], ids[1], ids[2]] == _ids(_rest_find(rpc, query="Ива")["items"])
    assert _client_find(rpc, query="Ива", sort_key="birth_date", sort_order="desc") == [
        rpc("Customers.get", id=i) for i in (ids[1], ids[0], ids[2])
    ]

    # an RPC write reaches the index through the store's change listeners
    late = rpc("Customers.create", customer={"phone": "79000000005", "profile": {"first_name": "Иваныч"}})["id"]
    assert late in _ids(_relaxed_find(rpc, query="Ива"))
    assert _rest_find(rpc, query="Ива")["engine"] == "redisearch"
    assert rpc("Customers.delete", id=ids[0]) is None
    assert ids[0] not in _ids(_relaxed_find(rpc, query="Ива"))

    assert rpc("Customers.search.idx.migrate", load_docs=None) == 4
    assert _ids(_relaxed_find(rpc, filters=[{"kind": "city", "condition": "eq", "value": "Москва"}])) == [ids[2]]

    assert rpc("Customers.search.idx.flush") is None
    assert rpc("Customers.search.idx.flush") is None  # nothing left to drop: the same answer
    after = _rest_find(rpc, query="Ива")
    assert after["engine"] == "postgresql" and after["fallback"]
    assert sorted(_ids(_relaxed_find(rpc, query="Ива"))) == sorted([ids[1], ids[2], late])


def test_index_method_results_as_the_original(search_rpc: Rpc) -> None:
    """Raw answers: documents loaded (or null when the index exists), null for flush."""
    search_rpc("Customers.create", customer={"phone": "79123456789"})
    for method, params, result in (
        ("Customers.search.idx.init", {"load_docs": True}, 1),
        ("Customers.search.idx.init", {"load_docs": True}, None),
        ("Customers.search.idx.migrate", {"load_docs": True}, 1),
        ("Customers.search.idx.flush", {}, None),
    ):
        assert search_rpc.answer(method, params) == {"id": 0, "result": result}, method
