"""The `customers` command: thin click commands that call one domain function each."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import orjson
import psycopg

from customers import db, settings_store
from customers.config import SETTINGS_FILE_ENV, ConfigError, Settings, get_settings
from customers.errors import CustomersError

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        human(data)


class Group(click.Group):
    """Turns expected errors into one line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (CustomersError, ConfigError) as exc:
            fail(str(exc))
        except psycopg.OperationalError as exc:
            fail(f"the database is unavailable: {str(exc).strip().splitlines()[0]}")


def settings_from(ctx: click.Context) -> Settings:
    return ctx.ensure_object(dict).setdefault("settings", get_settings())


def conninfo(ctx: click.Context) -> str:
    return db.resolve(settings_from(ctx)).conninfo


def run_async(ctx: click.Context, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    target = conninfo(ctx)

    async def main() -> T:
        async with await psycopg.AsyncConnection.connect(target, autocommit=True) as conn:
            return await fn(conn)

    return asyncio.run(main())


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"TOML file with settings (also ${SETTINGS_FILE_ENV}); the environment wins over it.",
)
@click.pass_context
def main(ctx: click.Context, settings_file: Path | None) -> None:
    """Customer data service of a retail loyalty program.

    Stores customers and their questionnaire answers in PostgreSQL, serves them over HTTP,
    bulk-loads files and keeps a search index. With no `services_db_host` configured, every
    command uses an embedded PostgreSQL under $CUSTOMERS_DATA_DIR (default ./.customers).
    """
    if settings_file is not None:
        if not settings_file.is_file():
            fail(f"settings file {settings_file} does not exist")
        # exported so that service workers started by uvicorn read the same file
        os.environ[SETTINGS_FILE_ENV] = str(settings_file.resolve())
        get_settings.cache_clear()
    ctx.ensure_object(dict)


# ---------------------------------------------------------------------------------------------
# customers db ...


@main.group("db")
def db_group() -> None:
    """Database: migrations, status, the embedded server."""


@db_group.command("migrate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def db_migrate(ctx: click.Context, as_json: bool) -> None:
    """Apply pending migrations from sql/ (idempotent; safe to run concurrently)."""
    target = db.resolve(settings_from(ctx))
    with db.connect(target.conninfo) as conn:
        applied = db.migrate(conn)
    result = {"database": target.description, "applied": [f"{m.version:03d}_{m.name}" for m in applied]}
    emit(
        result,
        as_json,
        lambda r: click.echo(
            f"{r['database']}: " + (f"applied {', '.join(r['applied'])}" if r["applied"] else "already up to date")
        ),
    )


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def db_status(ctx: click.Context, as_json: bool) -> None:
    """Which database is in use and which migrations are applied."""
    target = db.resolve(settings_from(ctx))
    with db.connect(target.conninfo) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        migrations = db.migration_status(conn)
    result = {
        "database": target.description,
        "kind": target.kind,
        "server_version": version[0] if version else None,
        "migrations": migrations,
        "pending": [m["version"] for m in migrations if m["applied_at"] is None],
    }

    def human(r: dict[str, Any]) -> None:
        click.echo(f"database: {r['database']} (PostgreSQL {r['server_version']})")
        for m in r["migrations"]:
            when = m["applied_at"].isoformat(timespec="seconds") if m["applied_at"] else "pending"
            click.echo(f"  {m['version']:03d}_{m['name']:<30} {when}")

    emit(result, as_json, human)


@db_group.command("start")
@click.pass_context
def db_start(ctx: click.Context) -> None:
    """Start the embedded PostgreSQL (it keeps running until `customers db stop`)."""
    settings = settings_from(ctx)
    if not settings.embedded:
        fail("an external database is configured (services_db_host); nothing to start")
    click.echo(f"{db.resolve(settings).description}: running")


@db_group.command("stop")
@click.pass_context
def db_stop(ctx: click.Context) -> None:
    """Stop the embedded PostgreSQL."""
    settings = settings_from(ctx)
    if not settings.embedded:
        fail("an external database is configured (services_db_host); nothing to stop")
    pgdata = settings.customers_data_dir.expanduser().resolve() / "pg"
    click.echo("stopped" if db.stop_embedded(pgdata) else "not running")


# ---------------------------------------------------------------------------------------------
# customers settings ...


@main.group("settings")
def settings_group() -> None:
    """Questionnaire settings: show, set, reset (every change is a new version)."""


@settings_group.command("show")
@click.option("--version", "version", type=int, help="Show an earlier version.")
@click.option("--history", is_flag=True, help="List the versions instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def settings_show(ctx: click.Context, version: int | None, history: bool, as_json: bool) -> None:
    """Print the settings in force (a document you can edit and `set` again)."""
    if history:
        rows = run_async(ctx, settings_store.settings_history)
        emit(
            rows,
            as_json,
            lambda rs: [
                click.echo(f"v{r['version']:<4} {r['action']:<6} {r['created_at']:%Y-%m-%d %H:%M:%S}") for r in rs
            ],
        )
        return
    current = run_async(ctx, lambda conn: settings_store.get_settings(conn, version))
    if as_json:
        emit(current, True, print)
    else:
        click.echo(json.dumps(current["document"], ensure_ascii=False, indent=2))
        click.echo(f"# version {current['version']}", err=True)


@settings_group.command("set")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def settings_set(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Put the settings document in FILE (JSON) in force as a new version."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file} is not a JSON document: {exc}")
    row = run_async(ctx, lambda conn: settings_store.set_settings(conn, document))
    emit({"version": row["version"]}, as_json, lambda r: click.echo(f"settings version {r['version']} in force"))


@settings_group.command("reset")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def settings_reset(ctx: click.Context, as_json: bool) -> None:
    """Return to the shipped default settings (as a new version)."""
    row = run_async(ctx, settings_store.reset_settings)
    emit(
        {"version": row["version"]},
        as_json,
        lambda r: click.echo(f"default settings in force as version {r['version']}"),
    )


# ---------------------------------------------------------------------------------------------
# customers serve


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--no-migrate", is_flag=True, help="Do not apply pending migrations before serving.")
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also run the scheduled jobs in the service process(es); one leader runs them.",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, no_migrate: bool, with_scheduler: bool) -> None:
    """Serve the HTTP API (REST, OpenAPI at /docs and /openapi.json)."""
    import uvicorn

    settings = settings_from(ctx)
    if not settings.tokens() and not is_loopback(host):
        fail(f"no auth_tokens are configured: refusing to listen on {host}; set auth_tokens or use 127.0.0.1")
    target = db.resolve(settings)
    if not no_migrate:
        with db.connect(target.conninfo) as conn:
            db.migrate(conn)
    if with_scheduler:
        os.environ["CUSTOMERS_WITH_SCHEDULER"] = "1"  # read by jobs.host in every worker
    click.echo(f"serving on http://{host}:{port} ({target.description}, {workers} worker(s))")
    from customers import logs, metrics

    if workers > 1 and metrics.multiprocess_dir() is None:
        # the workers' metrics meet in files there, so /metrics answers for all of them
        metrics.prepare_multiprocess(settings.customers_data_dir.expanduser().resolve() / "metrics")
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=logs.dict_config(settings.log_level),
    )


# Commands of the other areas, registered after the core ones (their modules import from here).
from customers.search.cli import search_group  # noqa: E402
from etl.cli import export_command, import_command, samples_group  # noqa: E402
from jobs.cli import jobs_group, scheduler, stats_command  # noqa: E402

for command in (import_command, export_command, samples_group, search_group, scheduler, jobs_group, stats_command):
    main.add_command(command)
