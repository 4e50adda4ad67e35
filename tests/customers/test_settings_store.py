"""The settings store's partial update: the merge, its validation, one version per change."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from customers import settings_store
from customers.errors import InvalidSettings
from customers.questionnaire_document import default_document


def _run(conninfo: str, *partials: dict[str, Any]) -> list[dict[str, Any]]:
    async def scenario() -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return [await settings_store.update_settings(conn, partial) for partial in partials]

    return asyncio.run(scenario())


def test_partial_update_merges_spec_by_spec(conninfo: str, clean_db: None) -> None:
    default = default_document().to_json()
    first_key = default["fields"][0]["key"]
    first, second = _run(
        conninfo,
        {"fields": [{"key": first_key, "label": "Имя клиента", "type": "string"}]},
        {
            "fields": [{"key": "pet", "label": "Питомец", "type": "enum", "options": ["cat", "dog"]}],
            "meta_fields": [{"key": "campaign", "label": "Кампания", "type": "string"}],
        },
    )
    assert (first["version"], first["action"], second["version"]) == (1, "set", 2)
    fields = second["document"]["fields"]
    assert [f["key"] for f in fields] == [f["key"] for f in default["fields"]] + ["pet"]
    assert fields[0]["label"] == "Имя клиента" and "max_length" not in fields[0]  # the whole spec replaced
    meta_keys = [f["key"] for f in second["document"]["meta_fields"]]
    assert meta_keys == [f["key"] for f in default["meta_fields"]] + ["campaign"]


def test_invalid_merge_result_leaves_the_version_in_force(conninfo: str, clean_db: None) -> None:
    with pytest.raises(InvalidSettings):
        _run(conninfo, {"fields": [{"key": "age", "label": "Возраст", "type": "integer", "search": "tag"}]})

    async def current() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await settings_store.get_settings(conn)

    assert asyncio.run(current())["version"] == 0


def test_free_keys_are_kept_merged_and_versioned(conninfo: str, clean_db: None) -> None:
    spec = {"key": "pet", "label": "Питомец", "type": "string"}
    first, second, third = _run(
        conninfo,
        {"my_flag": 1, "ui": {"theme": "dark", "columns": ["phone", "city"]}},
        {"fields": [spec], "note": "текст"},
        {"my_flag": {"nested": [1, 2.5, None, True]}, "ui": None},
    )
    assert first["document"]["my_flag"] == 1
    assert first["document"]["ui"] == {"theme": "dark", "columns": ["phone", "city"]}
    assert first["document"]["fields"] == default_document().to_json()["fields"]
    # a later partial set keeps the keys it does not mention
    assert {k: second["document"][k] for k in ("my_flag", "ui", "note")} == {
        "my_flag": 1,
        "ui": {"theme": "dark", "columns": ["phone", "city"]},
        "note": "текст",
    }
    assert second["document"]["fields"][-1].items() >= spec.items()
    # a key given replaces that key's value, whatever JSON it is
    assert third["document"]["my_flag"] == {"nested": [1, 2.5, None, True]}
    assert third["document"]["ui"] is None and third["document"]["note"] == "текст"

    async def read(version: int | None) -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await settings_store.get_settings(conn, version)

    assert asyncio.run(read(None))["document"] == third["document"]
    assert asyncio.run(read(1))["document"]["my_flag"] == 1  # every version keeps its own

    async def reset() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return await settings_store.reset_settings(conn)

    assert "my_flag" not in asyncio.run(reset())["document"]  # the shipped default has none


def test_free_keys_beside_invalid_fields_are_not_stored(conninfo: str, clean_db: None) -> None:
    with pytest.raises(InvalidSettings, match="key 'age'"):
        _run(conninfo, {"my_flag": 1, "fields": [{"key": "age", "label": "x", "type": "integer", "search": "tag"}]})
    with pytest.raises(InvalidSettings, match="meta_fields"):
        _run(conninfo, {"my_flag": 1, "meta_fields": "none"})
    assert _run(conninfo, {"other": True})[0]["version"] == 1
    assert "my_flag" not in _run(conninfo, {})[0]["document"]
