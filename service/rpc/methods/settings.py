"""`Customers.settings.*`: the questionnaire settings."""

from __future__ import annotations

from typing import Any

from customers import settings_store
from customers.models import JsonObject
from service.rpc.registry import Call, MethodTable

settings_methods = MethodTable()


@settings_methods.method("Customers.settings.get", "reader")
async def settings_get(call: Call) -> Any:
    """The questionnaire settings in force, with their version."""
    return await settings_store.get_settings(call.conn)


@settings_methods.method("Customers.settings.set", "admin")
async def settings_set(call: Call, value: JsonObject) -> Any:
    """Merge a partial settings document into the one in force; returns the new settings."""
    return await settings_store.update_settings(call.conn, value)


@settings_methods.method("Customers.settings.reset", "admin")
async def settings_reset(call: Call) -> Any:
    """Return to the shipped default settings."""
    return await settings_store.reset_settings(call.conn)
