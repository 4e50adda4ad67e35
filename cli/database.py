"""`customers db ...`: migrations, their status, the embedded server."""

from __future__ import annotations

from typing import Any

import click

from cli.context import emit, fail, settings_from
from customers import db


@click.group("db")
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
