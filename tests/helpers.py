"""Values and helpers shared by the suite's fixtures and tests."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

ADMIN_TOKEN = "admin-" + secrets.token_hex(16)
READER_TOKEN = "reader-" + secrets.token_hex(16)

# The create defaults of the original service: one set for REST, JSON-RPC and bulk files, written
# out here as the contract (customers.models.create_defaults must equal it).
CREATE_DEFAULTS = {
    "email_confirmed": False,
    "loyalty_enabled": False,
    "accept_tender_offer": True,
    "prioritize_sms_verification": False,
    "blocked": False,
    "profile": {},
    "meta": {},
    "subscriptions": {},
}


def wait_for(condition: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    """Poll `condition` until it returns something truthy, and return that; fail after `timeout`
    seconds. Tests wait for what they need this way, never for a fixed time."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
