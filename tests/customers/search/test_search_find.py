"""find over HTTP against the configured RediSearch, and the same find served by PostgreSQL."""

from __future__ import annotations

import httpx
import pytest


def _create(api: httpx.Client, phone: str, **fields: object) -> dict:
    response = api.post("/customers", json={"phone": phone, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def _find(api: httpx.Client, **body: object) -> dict:
    response = api.post("/customers/find", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(result: dict) -> list[int]:
    return [c["id"] for c in result["items"]]


@pytest.fixture
def people(search_api: httpx.Client) -> dict[str, dict]:
    assert search_api.post("/search/index/init").json() == {"created": True, "loaded": 0}
    return {
        "ivan": _create(
            search_api,
            "+7 912 000-00-01",
            email="Ivan@Example.ru",
            profile={
                "first_name": "ИВАН",
                "last_name": "Петров",
                "city": "Москва",
                "birth_date": "1985-03-04",
                "interests": ["sport", "books"],
                "gender": "male",
            },
        ),
        "anna": _create(
            search_api,
            "+7 912 000-00-02",
            profile={
                "first_name": "Анна",
                "last_name": "Иванова",
                "city": "москва",
                "birth_date": "1992-07-01",
                "interests": ["books"],
                "gender": "female",
            },
        ),
        "oleg": _create(
            search_api,
            "+7 912 000-00-03",
            profile={
                "first_name": "Oleg",
                "last_name": "Sidorov-Smith",
                "city": "Санкт-Петербург",
                "birth_date": "1979-12-31",
                "gender": "male",
            },
        ),
    }


def test_find_answers_from_the_index(search_api: httpx.Client, people: dict[str, dict]) -> None:
    result = _find(search_api, filters=[{"kind": "city", "condition": "eq", "value": "МОСКВА"}])
    assert result["engine"] == "redisearch"
    assert result["total"] == 2
    assert _ids(result) == [people["ivan"]["id"], people["anna"]["id"]]
    assert result["items"][0] == people["ivan"]  # full records


def test_cyrillic_matches_regardless_of_case(search_api: httpx.Client, people: dict[str, dict]) -> None:
    ivan, anna = people["ivan"]["id"], people["anna"]["id"]
    assert _ids(_find(search_api, query="иван")) == [ivan, anna]  # Иван, Иванова
    assert _ids(_find(search_api, query="иван петров")) == [ivan]
    assert _ids(_find(search_api, query="Ива")) == [ivan, anna]  # prefix on the last word
    assert _ids(_find(search_api, query="петров ИВ")) == [ivan]
    assert _ids(_find(search_api, filters=[{"kind": "first_name", "condition": "contains", "value": "Иван"}])) == [ivan]
    assert _ids(_find(search_api, filters=[{"kind": "last_name", "condition": "prefix", "value": "иван"}])) == [anna]


def test_phone_with_plus_and_email_are_escaped(search_api: httpx.Client, people: dict[str, dict]) -> None:
    ivan = people["ivan"]["id"]
    for phone in ("+7 912 000-00-01", "89120000001", "+79120000001"):
        assert _ids(_find(search_api, filters=[{"kind": "phone", "condition": "eq", "value": phone}])) == [ivan]
    assert _ids(_find(search_api, filters=[{"kind": "email", "condition": "eq", "value": "IVAN@example.RU"}])) == [ivan]


def test_ranges_lists_negation_and_sorting(search_api: httpx.Client, people: dict[str, dict]) -> None:
    ivan, anna, oleg = (people[k]["id"] for k in ("ivan", "anna", "oleg"))
    between = {"kind": "birth_date", "condition": "between", "value": ["1980-01-01", "31.12.1989"]}
    assert _ids(_find(search_api, filters=[between])) == [ivan]
    assert _ids(_find(search_api, filters=[{"kind": "interests", "condition": "eq", "value": "books"}])) == [ivan, anna]
    assert _ids(_find(search_api, filters=[{"kind": "interests", "condition": "ne", "value": "sport"}])) == [anna, oleg]
    assert _ids(_find(search_api, filters=[{"kind": "gender", "condition": "in", "value": ["female"]}])) == [anna]
    assert _ids(_find(search_api, filters=[{"kind": "interests", "condition": "exists", "value": False}])) == [oleg]
    by_birth = _find(search_api, sort_key="birth_date", sort_order="desc")
    assert _ids(by_birth) == [anna, ivan, oleg]
    page = _find(search_api, sort_key="birth_date", offset=1, limit=1)
    assert page["total"] == 3 and _ids(page) == [ivan]
    assert _find(search_api, limit=0) == {"total": 3, "items": [], "engine": "redisearch", "fallback": None}
    assert _ids(_find(search_api, filters=[{"kind": "city", "condition": "prefix", "value": "санкт-пет"}])) == [oleg]
    assert _ids(_find(search_api, query="sidorov smi")) == [oleg]


HOSTILE = [
    "@city:{x}",
    "a-b",
    "a|b",
    "{}",
    "*",
    '"quoted"',
    "x)",
    "(",
    "+7",
    "\\",
    "o'brien",
    "a b",
    "-",
    "%_",
    "№5",
    "«Европа»",
    "a\u00a0b",
]


def test_hostile_values_are_escaped(search_api: httpx.Client, people: dict[str, dict]) -> None:
    """No value changes the query's structure: each finds exactly what PostgreSQL finds."""
    weird = _create(
        search_api,
        "+7 912 000-00-09",
        profile={"city": "a|b {x} *@-+", "favourite_store": '"q" (x) +7', "last_name": "O'Brien-Смит"},
    )
    wid = weird["id"]
    assert _ids(_find(search_api, filters=[{"kind": "city", "condition": "eq", "value": "A|B {X} *@-+"}])) == [wid]
    assert _ids(_find(search_api, filters=[{"kind": "favourite_store", "condition": "eq", "value": '"q" (x) +7'}])) == [
        wid
    ]
    assert _ids(
        _find(search_api, filters=[{"kind": "favourite_store", "condition": "prefix", "value": '"q" (x) +'}])
    ) == [wid]
    assert _ids(_find(search_api, query="o'brien-см")) == [wid]
    store = _create(search_api, "+7 912 000-00-08", profile={"favourite_store": "ТЦ «Европа» №5"})["id"]
    assert _ids(
        _find(search_api, filters=[{"kind": "favourite_store", "condition": "eq", "value": "тц «европа» №5"}])
    ) == [store]
    for value in HOSTILE:
        for flt in (
            {"kind": "city", "condition": "eq", "value": value},
            {"kind": "city", "condition": "ne", "value": value},
            {"kind": "meta.legacy_id", "condition": "in", "value": [value, "x"]},
        ):
            result = _find(search_api, filters=[flt])
            assert result["engine"] == "redisearch"
            expected = _find(search_api, limit=0)["total"] if flt["condition"] == "ne" else 0
            assert result["total"] == expected, (flt, result)
        free = search_api.post("/customers/find", json={"query": value})
        assert free.status_code == 200 and free.json()["fallback"] is None, (value, free.text)


def _error(api: httpx.Client, **body: object) -> dict:
    response = api.post("/customers/find", json=body)
    assert response.status_code == 422, response.text
    return response.json()["errors"][0]


def test_what_redisearch_would_get_silently_wrong_is_a_422(search_api: httpx.Client, people: dict[str, dict]) -> None:
    err = _error(search_api, filters=[{"id": "f1", "kind": "no_such_field", "condition": "eq", "value": "x"}])
    assert err["field"] == "filters[0] (f1).kind" and err["code"] == "UNKNOWN_FIELD"
    assert (
        _error(search_api, filters=[{"kind": "registration_store", "condition": "eq", "value": "x"}])["code"]
        == "UNKNOWN_FIELD"
    )
    err = _error(search_api, sort_key="gender")
    assert err["field"] == "sort_key" and "not sortable" in err["message"]
    assert _error(search_api, sort_key="nope")["code"] == "UNKNOWN_FIELD"
    err = _error(search_api, filters=[{"kind": "city", "condition": "gt", "value": "x"}])
    assert err["field"] == "filters[0].condition" and err["code"] == "TYPE_MISMATCH"
    assert (
        _error(search_api, filters=[{"kind": "first_name", "condition": "eq", "value": "x"}])["code"] == "TYPE_MISMATCH"
    )
    assert (
        _error(search_api, filters=[{"kind": "phone", "condition": "prefix", "value": "79"}])["code"] == "TYPE_MISMATCH"
    )
    assert (
        _error(search_api, filters=[{"kind": "birth_date", "condition": "gt", "value": 1990}])["code"]
        == "TYPE_MISMATCH"
    )
    assert (
        _error(search_api, filters=[{"kind": "birth_date", "condition": "gt", "value": "1990-13-01"}])["code"]
        == "INVALID_FORMAT"
    )
    assert (
        _error(search_api, filters=[{"kind": "gender", "condition": "eq", "value": "other"}])["code"]
        == "INVALID_ENUM_VALUE"
    )
    assert (
        _error(search_api, filters=[{"kind": "children_count", "condition": "between", "value": [3, 1]}])["code"]
        == "NUMBER_CONSTRAINT"
    )
    assert (
        _error(search_api, filters=[{"kind": "first_name", "condition": "prefix", "value": "и"}])["code"]
        == "LENGTH_CONSTRAINT"
    )
    assert (
        _error(search_api, filters=[{"kind": "phone", "condition": "eq", "value": "+7 abc"}])["code"]
        == "INVALID_FORMAT"
    )
    assert (
        _error(search_api, filters=[{"kind": "car_owner", "condition": "eq", "value": "yes"}])["code"]
        == "TYPE_MISMATCH"
    )
    err = _error(search_api, limit=1001)
    assert err["field"] == "limit" and err["code"] == "NUMBER_CONSTRAINT"
    err = _error(search_api, offset=9990, limit=20)
    assert err["field"] == "offset" and "10000" in err["message"]
    assert search_api.post("/customers/find", json={"offset": 9980, "limit": 20}).status_code == 200
    assert _error(search_api, filters=[{"kind": "city", "condition": "eq"}])["code"] == "TYPE_MISMATCH"


def test_postgresql_answers_the_same_with_search_off(
    search_api: httpx.Client, api: httpx.Client, people: dict[str, dict]
) -> None:
    """`api` is the service with search off, on the same database."""
    bodies = [
        {"query": "Ива"},
        {
            "filters": [{"kind": "city", "condition": "eq", "value": "МОСКВА"}],
            "sort_key": "birth_date",
            "sort_order": "desc",
        },
        {
            "filters": [
                {"kind": "interests", "condition": "ne", "value": "sport"},
                {"kind": "gender", "condition": "ne", "value": "female"},
            ]
        },
        {"filters": [{"kind": "phone", "condition": "eq", "value": "+7 912 000-00-03"}]},
    ]
    for body in bodies:
        off = _find(api, **body)
        on = _find(search_api, **body)
        assert off["engine"] == "postgresql" and off["fallback"] is None
        assert on["engine"] == "redisearch"
        assert off["items"] == on["items"] and off["total"] == on["total"]
        assert off["total"] > 0


def test_source_id_is_an_exact_text_value_on_both_engines(search_api: httpx.Client, api: httpx.Client) -> None:
    """`api` is the service with search off, on the same database."""
    assert search_api.post("/search/index/init").json()["created"] is True
    made = {
        source_id: _create(search_api, f"+7 912 000-10-{i:02d}", source_id=source_id)["id"]
        for i, source_id in enumerate(["Склад №261 «Центральный»", "app-ios-43", "LEG-007-0000028", "app-ios-430"])
    }
    _create(search_api, "+7 912 000-10-99")  # none
    bodies: list[tuple[dict, list[int]]] = [
        (
            {"filters": [{"kind": "source_id", "condition": "eq", "value": "склад №261 «центральный»"}]},
            [made["Склад №261 «Центральный»"]],
        ),
        ({"filters": [{"kind": "source_id", "condition": "eq", "value": "APP-IOS-43"}]}, [made["app-ios-43"]]),
        (
            {"filters": [{"kind": "source_id", "condition": "in", "value": ["LEG-007-0000028", "app-ios-430"]}]},
            [made["LEG-007-0000028"], made["app-ios-430"]],
        ),
        (
            {"filters": [{"kind": "source_id", "condition": "exists"}], "sort_key": "source_id"},
            [made["app-ios-43"], made["app-ios-430"], made["LEG-007-0000028"], made["Склад №261 «Центральный»"]],
        ),
    ]
    for body, expected in bodies:
        on = _find(search_api, **body)
        off = _find(api, **body)
        assert on["engine"] == "redisearch" and off["engine"] == "postgresql"
        assert _ids(on) == _ids(off) == expected, body
    # a number is no source_id
    numeric = search_api.post(
        "/customers/find", json={"filters": [{"kind": "source_id", "condition": "eq", "value": 43}]}
    )
    assert numeric.status_code == 422 and numeric.json()["errors"][0]["code"] == "TYPE_MISMATCH"
