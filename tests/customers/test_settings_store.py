"""The settings store's partial update: the merge, its validation, one version per change."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from customers import settings_store
from customers.errors import InvalidSettings
from customers.questionnaire import default_document


def _run(conninfo: str, *partials: dict[str, Any]) -> list[dict[str, Any]]:
    async def scenario() -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            return [await settings_store.update_settings(conn, partial) for partial in partials]

    return asyncio.run(scenario())


def test_partial_update_merges_spec_by_spec(conninfo: str, clean_db: None) -> None:
    default = default_document().model_dump(exclude_none=True)
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
