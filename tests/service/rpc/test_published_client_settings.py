"""Customers.settings.* driven by the original service's published client.

`set_settings(value)` is a partial update ("you can pass only updated keys here"): the client's
own keys are kept as given, returned by `get_settings` and by later partial sets (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from customers.questionnaire import default_document
from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN
from tests.service.rpc.published_client import ModelValidationError, Published, published_client


@pytest.fixture
def published(live: LiveServer, clean_db: None) -> Iterator[Published]:
    """The published client as an admin of the live service, on an empty database."""
    with published_client(live.url, ADMIN_TOKEN) as opened:
        yield opened


def default_doc() -> dict[str, Any]:
    return default_document().model_dump(exclude_none=True)


def first_name_labelled(label: str) -> dict[str, Any]:
    """The whole spec of the default `first_name` field with another label."""
    [spec] = [field for field in default_doc()["fields"] if field["key"] == "first_name"]
    return {**spec, "label": label}


def test_settings_get_set_and_reset(published: Published) -> None:
    client, run = published.client, published.run
    shipped = run(client.get_settings())
    assert shipped == default_doc()  # the settings object itself, as the original answered

    changed = run(client.set_settings({"fields": [first_name_labelled("Имя клиента")]}))
    fields = changed["fields"]
    assert [f["key"] for f in fields] == [f["key"] for f in default_doc()["fields"]]  # the others kept, in order
    assert next(f for f in fields if f["key"] == "first_name")["label"] == "Имя клиента"
    assert changed["meta_fields"] == default_doc()["meta_fields"]
    assert run(client.get_settings()) == changed

    with pytest.raises(ModelValidationError) as refused:
        run(client.set_settings({"fields": [{"key": "shoe_size", "label": "Размер", "type": "colour"}]}))
    assert refused.value.data["code"] == "INVALID_SETTINGS"
    assert run(client.get_settings()) == changed  # the refused change left version 1 in force

    reset = run(client.reset_settings())
    assert reset == default_doc()
    assert run(client.get_settings()) == reset


def test_settings_keep_a_key_of_the_clients_own(published: Published) -> None:
    client, run = published.client, published.run
    flagged = run(client.set_settings({"my_flag": 1}))
    assert flagged["my_flag"] == 1
    assert flagged["fields"] == default_doc()["fields"]
    assert run(client.get_settings())["my_flag"] == 1

    # later partial sets keep it: of the questionnaire's own members, and of another key
    relabelled = run(client.set_settings({"fields": [first_name_labelled("Имя по паспорту")]}))
    assert relabelled["my_flag"] == 1
    both = run(client.set_settings({"limits": {"daily": [10, "sms"]}}))
    assert (both["my_flag"], both["limits"]) == (1, {"daily": [10, "sms"]})
    assert next(f for f in both["fields"] if f["key"] == "first_name")["label"] == "Имя по паспорту"

    # a key given again replaces its value
    replaced = run(client.set_settings({"my_flag": {"on": False}}))
    assert replaced["my_flag"] == {"on": False}
    assert run(client.get_settings()) == replaced
