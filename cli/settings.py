"""`customers settings ...`: the questionnaire settings in force, their versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cli.context import emit, fail, run_async
from customers import settings_store


@click.group("settings")
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

        def human(rs: list[dict[str, Any]]) -> None:
            for r in rs:
                click.echo(f"v{r['version']:<4} {r['action']:<6} {r['created_at']:%Y-%m-%d %H:%M:%S}")

        emit(rows, as_json, human)
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
