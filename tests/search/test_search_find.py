"""find over HTTP against the configured RediSearch, and the same find served by PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.search.conftest import add_customers


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
        "ivan": _create(search_api, "+7 912 000-00-01", email="Ivan@Example.ru",
                        profile={"first_name": "ИВАН", "last_name": "Петров", "city": "Москва", "birth_date": "1985-03-04",
                                 "interests": ["sport", "books"], "gender": "male"}),
        "anna": _create(search_api, "+7 912 000-00-02",
                        profile={"first_name": "Анна", "last_name": "Иванова", "city": "москва", "birth_date": "1992-07-01",
                                 "interests": ["books"], "gender": "female"}),
        "oleg": _create(search_api, "+7 912 000-00-03",
                        profile={"first_name": "Oleg", "last_name": "Sidorov-Smith", "city": "Санкт-Петербург",
                                 "birth_date": "1979-12-31", "gender": "male"}),
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
