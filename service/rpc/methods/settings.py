"""`Customers.settings.*`: the settings, a free-form object holding the questionnaire.

Over JSON-RPC the settings are the object itself, as the original service answered them
(`fields`, `meta_fields` and the caller's own keys at the top); the version and its history are
served by REST (`GET /settings`) and the command line."""

from __future__ import annotations

from typing import Any

from customers import settings_store
from customers.models import JsonObject
from customers.questionnaire import QuestionnaireDocument
from service.rpc.registry import Call, MethodTable, without_nulls

settings_methods = MethodTable()


@settings_methods.method("Customers.settings.get", "reader")
async def settings_get(call: Call) -> Any:
    """The settings in force: the questionnaire and the free keys."""
    return (await settings_store.get_settings(call.conn))["document"]


@settings_methods.method("Customers.settings.set", "admin", raw=("value",))
async def settings_set(call: Call, value: JsonObject) -> Any:
    """Merge a partial settings object into the one in force; returns the new settings."""
    # the questionnaire's own members (and a `_type` tag) are read as every parameter is: a null
    # is "not given"; the other keys are the caller's own, kept as given, nulls included
    own = QuestionnaireDocument.model_fields
    partial = {
        key: without_nulls(item) if key in own else item
        for key, item in value.items()
        if key != "_type" and (key not in own or item is not None)
    }
    return (await settings_store.update_settings(call.conn, partial))["document"]


@settings_methods.method("Customers.settings.reset", "admin")
async def settings_reset(call: Call) -> Any:
    """Return to the shipped default settings; returns them."""
    return (await settings_store.reset_settings(call.conn))["document"]
