"""The bulk plan and the HTTP model apply the same rules with the same codes.

Each case is a cell as a file holds it and the JSON value an HTTP client would send for the same
input; both paths must accept it to the same stored value or reject it with the same code."""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl
import pytest

from customers.errors import ValidationFailed
from customers.questionnaire import Questionnaire
from customers.questionnaire_document import parse_document
from etl.read import ROW
from etl.validate import ValidationPlan

DOCUMENT = {
    "fields": [
        {"key": "nick", "label": "n", "type": "string", "min_length": 2, "max_length": 5, "pattern": "^[a-z]+$"},
        {"key": "note", "label": "n", "type": "text", "max_length": 10},
        {"key": "kids", "label": "k", "type": "integer", "min": 0, "max": 20},
        {"key": "size", "label": "s", "type": "decimal", "min": 15, "max": 50},
        {"key": "car", "label": "c", "type": "boolean"},
        {"key": "born", "label": "b", "type": "date"},
        {"key": "seen", "label": "s", "type": "datetime"},
        {"key": "mail", "label": "m", "type": "email", "max_length": 30},
        {"key": "sex", "label": "s", "type": "enum", "options": ["male", "female"]},
        {"key": "likes", "label": "l", "type": "list", "items": "enum", "options": ["sport", "books"], "max_length": 2},
        {"key": "tags", "label": "t", "type": "list", "items": "string", "pattern": "^[a-z]+$"},
    ],
    "meta_fields": [{"key": "code", "label": "c", "type": "string", "max_length": 3, "required": True}],
}

# (field, cell, JSON value for HTTP)
CASES: list[tuple[str, str, Any]] = [
    ("nick", "abc", "abc"),
    ("nick", "a", "a"),
    ("nick", "abcdef", "abcdef"),
    ("nick", "ab1", "ab1"),
    ("note", "короткий", "короткий"),
    ("note", "очень длинный текст", "очень длинный текст"),
    ("note", "=cmd|' /C calc'!A0"[:10], "=cmd|' /C calc'!A0"[:10]),
    ("kids", "3", 3),
    ("kids", "0", 0),
    ("kids", "21", 21),
    ("kids", "-1", -1),
    ("kids", "много", "много"),
    ("kids", "1.5", 1.5),
    ("size", "42.5", 42.5),
    ("size", "42", 42.0),
    ("size", "14.9", 14.9),
    ("size", "abc", "abc"),
    ("size", "50", 50.0),
    ("car", "true", True),
    ("car", "false", False),
    ("car", "1", True),
    ("car", "0", False),
    ("car", "да", True),
    ("car", "нет", False),
    ("car", "maybe", "maybe"),
    ("born", "2020-02-29", "2020-02-29"),
    ("born", "29.02.2020", "29.02.2020"),
    ("born", "31.02.2020", "31.02.2020"),
    ("born", "2021-02-29", "2021-02-29"),
    ("born", "2020-1-5", "2020-1-5"),
    ("born", "вчера", "вчера"),
    ("born", "0000-01-01", "0000-01-01"),
    ("seen", "2024-05-01T10:00:00", "2024-05-01T10:00:00"),
    ("seen", "2024-05-01 10:00:00+03:00", "2024-05-01 10:00:00+03:00"),
    ("seen", "2024-13-01T10:00", "2024-13-01T10:00"),
    ("mail", "Ivan@Mail.RU", "Ivan@Mail.RU"),
    ("mail", "ivan@mail", "ivan@mail"),
    ("mail", "a" * 30 + "@mail.ru", "a" * 30 + "@mail.ru"),
    ("sex", "male", "male"),
    ("sex", "Male", "Male"),
    ("sex", "другое", "другое"),
    ("likes", "sport,books", ["sport", "books"]),
    ("likes", "sport, fishing", ["sport", "fishing"]),
    ("likes", "sport,books,sport", ["sport", "books", "sport"]),
    ("tags", "abc,def", ["abc", "def"]),
    ("tags", "abc,D1", ["abc", "D1"]),
]


@pytest.fixture(scope="module")
def questionnaire() -> Questionnaire:
    return Questionnaire(parse_document(DOCUMENT), 1)


def http_outcome(q: Questionnaire, key: str, value: Any) -> tuple[str, Any]:
    try:
        return "ok", q.validate_profile({key: value})[key]
    except ValidationFailed as exc:
        return "error", exc.errors[0].code


def bulk_outcomes(q: Questionnaire, key: str, cells: list[str]) -> list[tuple[str, Any]]:
    plan = ValidationPlan(q, ["phone", key, "meta.code"])
    frame = pl.DataFrame(
        {
            ROW: list(range(2, len(cells) + 2)),
            "phone": ["89123456789"] * len(cells),
            key: cells,
            "meta.code": ["abc"] * len(cells),
        }
    )
    batch = plan.apply(frame)
    good = {row: orjson.loads(profile).get(key) for row, profile in batch.good.select(ROW, "profile").iter_rows()}
    bad = dict(batch.rejects.select("row", "code").iter_rows())
    return [("ok", good[r]) if r in good else ("error", bad[r]) for r in range(2, len(cells) + 2)]


@pytest.mark.parametrize("key", sorted({k for k, _, _ in CASES}))
def test_bulk_plan_and_http_model_agree(questionnaire: Questionnaire, key: str) -> None:
    cases = [(cell, value) for k, cell, value in CASES if k == key]
    expected = [http_outcome(questionnaire, key, value) for _, value in cases]
    cells = [cell for cell, _ in cases]
    assert bulk_outcomes(questionnaire, key, cells) == expected
    # repeated cells (a frame with few distinct values is checked once per value and joined back)
    # come out the same, row by row, and so do empty cells among them
    assert bulk_outcomes(questionnaire, key, [*cells, "", *reversed(cells), *cells]) == [
        *expected,
        ("ok", None),
        *reversed(expected),
        *expected,
    ]
    # each field's table holds at least one accepted and one rejected value
    assert {kind for kind, _ in expected} == {"ok", "error"}


def test_required_field_missing_in_both(questionnaire: Questionnaire) -> None:
    with pytest.raises(ValidationFailed) as exc:
        questionnaire.validate_meta({})
    assert exc.value.errors[0].code == "MISSING"
    plan = ValidationPlan(questionnaire, ["phone", "meta.code"])
    batch = plan.apply(pl.DataFrame({ROW: [2], "phone": ["89123456789"], "meta.code": [""]}))
    assert batch.rejects.select("column", "code").rows() == [("meta.code", "MISSING")]
