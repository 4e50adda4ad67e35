"""What every command shares: the settings, the database, one-line failures, JSON or text output."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import click
import orjson
import psycopg

from customers import db
from customers.config import Settings, get_settings
from customers.db import AsyncConn

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """End the command with one red line on stderr and exit status 1."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    """Print `data` as indented JSON, or for people through `human`."""
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        human(data)


def settings_from(ctx: click.Context) -> Settings:
    """The settings of this invocation, read once."""
    settings: Settings = ctx.ensure_object(dict).setdefault("settings", get_settings())
    return settings


def conninfo(ctx: click.Context) -> str:
    """The connection string of the database in use (starting the embedded one if needed)."""
    return db.resolve(settings_from(ctx)).conninfo


def run_async(ctx: click.Context, fn: Callable[[AsyncConn], Awaitable[T]]) -> T:
    """Run `fn` on one autocommit connection of an event loop of its own."""
    target = conninfo(ctx)

    async def main() -> T:
        async with await psycopg.AsyncConnection.connect(target, autocommit=True) as conn:
            return await fn(conn)

    return asyncio.run(main())
