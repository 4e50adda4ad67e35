"""The original service's published Python client (`elemento-customers`, the test extra), built
without a kaiju application, against a live server of the suite.

An existing user of the original drives `/public/rpc` with this client: it converts results with
strict types (msgspec), so a result of another shape is an error on the user's side. The tests
built on it call the client's own methods and never catch a conversion error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

# Importing kaiju_tools has two side effects on the whole test process, both undone here:
# aiohttp warns that kaiju's App subclasses web.Application (a DeprecationWarning, which the
# suite's `filterwarnings = error` would turn into a collection error), and kaiju installs its
# own logger class and log record factory process-wide (the other tests' logging is not its to
# change). The client's transport gets a kaiju logger of its own below: it logs with keyword
# arguments, which only kaiju's logger class accepts.
_logger_class = logging.getLoggerClass()
_record_factory = logging.getLogRecordFactory()
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Inheritance class App from web.Application is discouraged", category=DeprecationWarning
    )
    # the client and kaiju ship no type information (no py.typed)
    from elemento_customers.client import ElementoCustomersClient  # type: ignore[import-untyped]
    from elemento_customers.types import (  # type: ignore[import-untyped]
        Card,
        CardType,
        Customer,
        CustomerCreate,
        CustomerUpdate,
        Group,
        LoginCode,
    )
    from kaiju_tools.exceptions import (  # type: ignore[import-untyped]
        Conflict,
        InvalidParams,
        ModelValidationError,
        NotFound,
        PermissionDenied,
        RequestTimeout,
    )
    from kaiju_tools.http import HTTPRequestError, HTTPService  # type: ignore[import-untyped]
    from kaiju_tools.logging import Logger  # type: ignore[import-untyped]
    from kaiju_tools.rpc import RPCClientError  # type: ignore[import-untyped]
logging.setLoggerClass(_logger_class)
logging.setLogRecordFactory(_record_factory)

# the client's types and the errors it raises, for the tests (imported from here, after the above)
__all__ = [
    "Card",
    "CardType",
    "Conflict",
    "Customer",
    "CustomerCreate",
    "CustomerUpdate",
    "Group",
    "HTTPRequestError",
    "InvalidParams",
    "LoginCode",
    "ModelValidationError",
    "NotFound",
    "PermissionDenied",
    "Published",
    "RPCClientError",
    "RequestTimeout",
    "db_today",
    "published_client",
]

T = TypeVar("T")


@dataclass
class Published:
    """The published client and the event loop it runs on: `run(client.get(1))` makes one call."""

    client: ElementoCustomersClient
    loop: asyncio.AbstractEventLoop

    def run(self, call: Coroutine[Any, Any, T]) -> T:
        """Run one of the client's methods to its end and return what the client returns."""
        return self.loop.run_until_complete(call)


@contextmanager
def published_client(url: str, token: str) -> Iterator[Published]:
    """The client against the service at `url`, authenticated with a bearer `token`, on a loop of
    its own; its aiohttp session and the loop are closed on exit."""
    logger = Logger("tests.published_client")
    # `HTTPService(auth=str)` writes the header into the `headers` argument, which must then be a
    # dict of the caller's: the token goes in `headers` directly, as a user's configuration does
    transport = HTTPService(None, host=url, headers={"Authorization": f"Bearer {token}"}, logger=logger)
    client = ElementoCustomersClient(None, transport=transport, logger=logger)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(transport.init())
        loop.run_until_complete(client.init())
        yield Published(client, loop)
    finally:
        if transport.session is not None:
            loop.run_until_complete(transport.close())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def db_today(conninfo: str) -> dt.date:
    """The database's date, which a customer, card or group created without a date takes."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT current_date").fetchone()
    assert row is not None
    today: dt.date = row[0]
    return today
