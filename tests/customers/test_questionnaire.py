"""The questionnaire: every field type's rules and codes, and refusal of bad documents."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from customers.errors import InvalidSettings, ValidationFailed
from customers.questionnaire import Questionnaire
from customers.questionnaire_document import SETTINGS_MAX_BYTES, default_document, parse_document

DOC = {
    "fields": [
        {"key": "s", "label": "S", "type": "string", "min_length": 2, "max_length": 5, "pattern": "^[a-zа-я]+$"},
        {"key": "t", "label": "T", "type": "text", "max_length": 10},
        {"key": "i", "label": "I", "type": "integer", "min": 0, "max": 10},
        {"key": "d", "label": "D", "type": "decimal", "min": 0.5, "max": 2.5},
        {"key": "b", "label": "B", "type": "boolean"},
        {"key": "dt", "label": "DT", "type": "date"},
        {"key": "ts", "label": "TS", "type": "datetime"},
        {"key": "e", "label": "E", "type": "email"},
        {"key": "en", "label": "EN", "type": "enum", "options": ["a", "b"]},
        {"key": "le", "label": "LE", "type": "list", "items": "enum", "options": ["x", "y"], "max_length": 2},
        {"key": "ls", "label": "LS", "type": "list", "items": "string", "min_length": 1},
        {"key": "req", "label": "R", "type": "integer", "required": True},
    ],
    "meta_fields": [{"key": "m", "label": "M", "type": "string"}],
}


@pytest.fixture(scope="module")
def q() -> Questionnaire:
    return Questionnaire(parse_document(DOC), 1)


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("s", "абв", "абв"),
        ("t", "any text", "any text"),
        ("i", 10, 10),
        ("d", 1, 1.0),
        ("d", 2.5, 2.5),
        ("b", False, False),
        ("dt", "2020-02-29", "2020-02-29"),
        ("dt", "29.02.2020", "2020-02-29"),
        ("ts", "2024-05-01T10:00:00+03:00", "2024-05-01T10:00:00+03:00"),
        ("e", " Ivan@Mail.RU ", "ivan@mail.ru"),
        ("en", "b", "b"),
        ("le", ["x", "y"], ["x", "y"]),
        ("ls", ["free"], ["free"]),
    ],
)
def test_valid_values_are_stored_normalised(q: Questionnaire, field: str, value: object, stored: object) -> None:
    assert q.validate_profile({"req": 1, field: value}) == {"req": 1, field: stored}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("s", 5, "TYPE_MISMATCH"),
        ("s", "a", "LENGTH_CONSTRAINT"),
        ("s", "abcdef", "LENGTH_CONSTRAINT"),
        ("s", "ab1", "PATTERN_MISMATCH"),
        ("t", "x" * 11, "LENGTH_CONSTRAINT"),
        ("i", "5", "TYPE_MISMATCH"),
        ("i", 5.5, "TYPE_MISMATCH"),
        ("i", True, "TYPE_MISMATCH"),
        ("i", 11, "NUMBER_CONSTRAINT"),
        ("i", -1, "NUMBER_CONSTRAINT"),
        ("d", "1.5", "TYPE_MISMATCH"),
        ("d", 0.1, "NUMBER_CONSTRAINT"),
        ("b", "yes", "TYPE_MISMATCH"),
        ("b", 1, "TYPE_MISMATCH"),
        ("dt", "31.02.2020", "INVALID_FORMAT"),
        ("dt", "2020-13-01", "INVALID_FORMAT"),
        ("dt", 20200101, "TYPE_MISMATCH"),
        ("ts", "yesterday", "INVALID_FORMAT"),
        ("e", "ivan@", "INVALID_FORMAT"),
        ("e", "ivan mail.ru", "INVALID_FORMAT"),
        ("en", "c", "INVALID_ENUM_VALUE"),
        ("en", "A", "INVALID_ENUM_VALUE"),
        ("le", ["x", "z"], "INVALID_ENUM_VALUE"),
        ("le", ["x", "y", "x"], "LENGTH_CONSTRAINT"),
        ("le", "x", "TYPE_MISMATCH"),
        ("ls", [], "LENGTH_CONSTRAINT"),
        ("ls", [1], "TYPE_MISMATCH"),
        ("unknown", 1, "UNKNOWN_FIELD"),
    ],
)
def test_invalid_values_give_the_field_and_code(q: Questionnaire, field: str, value: object, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        q.validate_profile({"req": 1, field: value})
    assert [(e.field, e.code) for e in caught.value.errors] == [(f"profile.{field}", code)]


def test_required_field_missing_or_null(q: Questionnaire) -> None:
    for profile in ({}, {"req": None}):
        with pytest.raises(ValidationFailed) as caught:
            q.validate_profile(profile)
        assert [(e.field, e.code) for e in caught.value.errors] == [("profile.req", "MISSING")]


def test_null_optional_values_are_dropped(q: Questionnaire) -> None:
    assert q.validate_profile({"req": 2, "s": None}) == {"req": 2}


def test_meta_is_validated_by_meta_fields(q: Questionnaire) -> None:
    assert q.validate_meta({"m": "x"}) == {"m": "x"}
    with pytest.raises(ValidationFailed) as caught:
        q.validate_meta({"s": "abc"})
    assert caught.value.errors[0].field == "meta.s"


def test_default_requires_nothing() -> None:
    document = default_document()
    assert not any(spec.required for spec in document.fields + document.meta_fields)
    assert {
        "first_name",
        "last_name",
        "birth_date",
        "gender",
        "city",
        "children_count",
        "interests",
        "favourite_store",
    } <= {spec.key for spec in document.fields}
    assert Questionnaire.default().validate_profile({}) == {}


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ({"key": "x", "label": "X", "type": "colour"}, "type"),
        ({"key": "x", "label": "X", "type": "enum"}, "an enum needs a non-empty 'options' list"),
        ({"key": "x", "label": "X", "type": "enum", "options": ["a", "a"]}, "'options' repeats a value"),
        ({"key": "x", "label": "X", "type": "list"}, "a list needs 'items'"),
        ({"key": "x", "label": "X", "type": "string", "options": ["a"]}, "'options' applies to enums only"),
        ({"key": "x", "label": "X", "type": "integer", "min": 3, "max": 1}, "min (3) is greater than max (1)"),
        (
            {"key": "x", "label": "X", "type": "string", "min_length": 3, "max_length": 1},
            "min_length (3) is greater than max_length (1)",
        ),
        ({"key": "x", "label": "X", "type": "string", "min": 1}, "apply to integer and decimal fields only"),
        ({"key": "x", "label": "X", "type": "string", "pattern": "(["}, "is not a valid regular expression"),
        ({"key": "x", "label": "X", "type": "string", "pattern": "(a)\\1"}, "the bulk engine lacks"),
        ({"key": "x", "label": "X", "type": "integer", "search": "text"}, "does not fit type 'integer'"),
        ({"key": "x", "label": "X", "type": "string", "sortable": True}, "only a searchable field can be sortable"),
        ({"key": "X y", "label": "X", "type": "string"}, "key"),
        ({"key": "email", "label": "X", "type": "string"}, "is a core customer field"),
        ({"key": "x", "label": "X", "type": "string", "colour": "red"}, "colour"),
    ],
)
def test_invalid_documents_name_the_problem(field: dict, problem: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        parse_document({"fields": [field]})
    assert problem in str(caught.value)


def test_duplicate_keys_are_refused() -> None:
    spec = {"key": "x", "label": "X", "type": "string"}
    with pytest.raises(InvalidSettings, match="duplicate key 'x'"):
        parse_document({"fields": [spec, spec]})


def test_free_settings_keys_are_kept_as_given() -> None:
    base = default_document().to_json()
    free = {
        "my_flag": 1,
        "ui": {"theme": "dark", "widths": [1.5, 2], "hidden": None, "": "empty key"},
        "Ключ": "значение",
        "list": [[], {}, False],
    }
    document = parse_document({**base, **free})
    assert document.free_keys == free
    assert document.to_json() == {**base, **free}
    # the questionnaire itself is unchanged by them
    assert document.fields == default_document().fields


@pytest.mark.parametrize(
    ("free", "problem"),
    [
        ({"x": float("nan")}, "x: a number is finite"),
        ({"x": {"y": [float("inf")]}}, "x.y: a number is finite"),
        ({"x": 2**64}, "x: an integer is between"),
        ({"x": "a\x00b"}, "x: the NUL character"),
        ({"x": {"k\x00": 1}}, "x: a key: the NUL character"),
        ({"k\x00": 1}, "a top-level key: a key: the NUL character"),
        ({"x": "\ud800"}, "x: a lone surrogate"),
    ],
)
def test_free_settings_values_that_would_not_come_back_are_refused(free: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidSettings) as refused:
        parse_document({**default_document().to_json(), **free})
    assert any(p.startswith(problem) for p in refused.value.details["problems"]), refused.value.details


def test_the_settings_document_is_at_most_256_kib_of_json() -> None:
    base = default_document().to_json()
    room = SETTINGS_MAX_BYTES - len(orjson.dumps({**base, "blob": ""}))
    assert parse_document({**base, "blob": "x" * room}).free_keys["blob"] == "x" * room
    with pytest.raises(InvalidSettings, match=r"over the limit of 256 KiB \(262144 bytes\)"):
        parse_document({**base, "blob": "x" * (room + 1)})
    # the limit counts UTF-8 bytes
    with pytest.raises(InvalidSettings, match="256 KiB"):
        parse_document({**base, "blob": "я" * (room // 2 + 1)})
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    with pytest.raises(InvalidSettings, match="cannot be stored as JSON"):
        parse_document({**base, "deep": deep})
