"""`customers search ...`: thin commands over the index administration functions."""

from __future__ import annotations

from typing import Any

import click
import orjson

from cli.context import settings_from
from customers import search
from customers.config import Settings


def _settings(ctx: click.Context) -> Settings:
    settings = settings_from(ctx)
    search.require_enabled(settings)
    return settings


def _print(data: Any, as_json: bool, text: str) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() if as_json else text)


def _with_progress(label: str, fn: Any) -> Any:
    """Run fn(progress) under a rich progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        return fn(progress)


@click.group("search")
def search_group() -> None:
    """Search index: init, flush, migrate (zero-downtime rebuild), status, check."""


@search_group.command("init")
@click.option("--load-docs", is_flag=True, help="Load every customer into the new index.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def init(ctx: click.Context, load_docs: bool, as_json: bool) -> None:
    """Create the index if it does not exist."""
    settings = _settings(ctx)
    loaded = _with_progress("loading", lambda p: search.init_index(settings, load_docs=load_docs, progress=p))
    _print(
        {"created": loaded is not None, "loaded": loaded},
        as_json,
        "the index already exists" if loaded is None else f"index created, {loaded} documents loaded",
    )


@search_group.command("flush")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def flush(ctx: click.Context, yes: bool, as_json: bool) -> None:
    """Drop the index and all its documents (finds are served by PostgreSQL until init)."""
    settings = _settings(ctx)
    if not yes:
        click.confirm("drop the search index and all its documents?", abort=True)
    dropped = search.flush_index(settings)
    _print({"dropped": dropped}, as_json, f"{dropped} index(es) dropped")


@search_group.command("migrate")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def migrate(ctx: click.Context, as_json: bool) -> None:
    """Build a new index version from the questionnaire with every customer, in chunks, switch
    to it atomically, drop the old one. Searches are answered throughout."""
    settings = _settings(ctx)
    result = _with_progress("rebuilding", lambda p: search.migrate_index(settings, progress=p))
    rate = result.documents / result.seconds if result.seconds else 0
    _print(
        result.to_dict(),
        as_json,
        f"{result.index} in force: {result.documents} documents ({rate:,.0f}/s), {result.caught_up} caught up, "
        f"dropped {', '.join(result.dropped) or 'nothing'} in {result.seconds:.1f}s",
    )


@search_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Current index, its document count against the customers count, the last rebuild."""
    s = search.index_status(_settings(ctx))
    last = s["last_rebuild"]
    when = f"{last['action']} of {last['index']} finished {last['finished_at']:%Y-%m-%d %H:%M:%S}" if last else "never"
    _print(
        s,
        as_json,
        f"RediSearch {s['dialect']}: index {s['index'] or '(none)'}, {s['documents']} documents / "
        f"{s['customers']} customers; last rebuild: {when}" + (f"; building {s['building']}" if s["building"] else ""),
    )


@search_group.command("check")
@click.option("--sample", default=200, show_default=True, help="Customers compared field by field.")
@click.option("--repair", is_flag=True, help="Re-index drifted customers, remove stale documents.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def check(ctx: click.Context, sample: int, repair: bool, as_json: bool) -> None:
    """Compare the index with PostgreSQL; exit 1 when they differ (and nothing was repaired)."""
    report = search.check_consistency(_settings(ctx), sample=sample, repair=repair)
    _print(
        report.to_dict(),
        as_json,
        f"{report.customers} customers, {report.documents} documents, {report.sampled} sampled: "
        f"{len(report.drifted)} drifted, {len(report.missing)} missing, {len(report.stale)} stale"
        + (f", {report.repaired} repaired" if repair else ""),
    )
    if not report.consistent and not report.repaired:
        ctx.exit(1)
