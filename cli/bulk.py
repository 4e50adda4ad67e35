"""`customers import`, `customers export`, `customers samples generate`: thin click commands."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import click
import orjson

from cli.context import conninfo, fail, settings_from
from cli.priority import lower_priority
from etl.export import export_customers
from etl.pipeline import ImportOptions, import_file, publish
from etl.pipeline import ImportProgress as Progress
from etl.read import ReadOptions, load_mapping
from etl.report import Report
from etl.samples import generate

# The values click.Choice allows below, typed as the options of etl take them.
FileFormat = Literal["csv", "parquet"]
Encoding = Literal["utf-8", "utf-8-sig", "cp1251"]
Mode = Literal["insert", "upsert", "update"]
OnDuplicate = Literal["first", "last", "reject"]

_DELIMITERS = {",": ",", ";": ";", "tab": "\t", "\\t": "\t", "\t": "\t"}


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), help="Override the format told by the extension."
)
@click.option(
    "--delimiter", type=click.Choice([",", ";", "tab"]), help="CSV delimiter (default: detected from the header)."
)
@click.option("--quote-char", default='"', show_default=True, help="CSV quote character.")
@click.option(
    "--no-header",
    is_flag=True,
    help="The CSV has no header row: columns are named 1, 2, ... (map them with --mapping).",
)
@click.option(
    "--encoding",
    type=click.Choice(["utf-8", "utf-8-sig", "cp1251"]),
    default="utf-8",
    show_default=True,
    help="CSV encoding (a UTF-8 byte order mark is always accepted).",
)
@click.option(
    "--mapping",
    type=click.Path(path_type=Path),
    help='TOML or JSON file renaming source columns, e.g. Телефон = "phone".',
)
@click.option(
    "--mode",
    type=click.Choice(["insert", "upsert", "update"]),
    default="insert",
    show_default=True,
    help="insert skips phones that exist; upsert updates them; update touches existing customers only.",
)
@click.option(
    "--on-duplicate",
    type=click.Choice(["first", "last", "reject"]),
    default="first",
    show_default=True,
    help="Which row wins when a phone repeats inside the file (reject: none of them).",
)
@click.option("--dry-run", is_flag=True, help="Validate and count, write nothing to customers.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write rejected rows (row, column, code, value, message) to this CSV.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1_000, 5_000_000),
    default=50_000,
    show_default=True,
    help="Rows per streamed batch (memory follows it).",
)
@click.option("--ignore-unknown", is_flag=True, help="Skip columns that map onto no customer field instead of failing.")
@click.option(
    "--sessions",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Sessions copying validated rows into chunk tables beside the one merging them (--mode insert, "
    "--on-duplicate first); more pay where PostgreSQL has cores to spare.",
)
@click.option(
    "--nice",
    type=click.IntRange(0, 19),
    default=10,
    show_default=True,
    help="Lower the importer's CPU priority by this much (0: keep it): where PostgreSQL runs on the same "
    "machine, its merging session gets a core first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report(s) as JSON.")
@click.pass_context
def import_command(
    ctx: click.Context,
    paths: tuple[Path, ...],
    fmt: FileFormat | None,
    delimiter: str | None,
    quote_char: str,
    no_header: bool,
    encoding: Encoding,
    mapping: Path | None,
    mode: Mode,
    on_duplicate: OnDuplicate,
    dry_run: bool,
    rejects: Path | None,
    batch_size: int,
    ignore_unknown: bool,
    sessions: int,
    nice: int,
    as_json: bool,
) -> None:
    """Import customers from CSV or Parquet files, each file whole or not at all."""
    settings = settings_from(ctx)
    lower_priority(nice)
    read = ReadOptions(
        format=fmt,
        delimiter=_DELIMITERS[delimiter] if delimiter else None,
        quote_char=quote_char,
        has_header=not no_header,
        encoding=encoding,
        batch_size=batch_size,
        mapping=load_mapping(mapping) if mapping else {},
    )
    target = conninfo(ctx)
    reports: list[Report] = []
    failed = False
    for path in paths:
        options = ImportOptions(
            read=read,
            mode=mode,
            on_duplicate=on_duplicate,
            dry_run=dry_run,
            ignore_unknown=ignore_unknown,
            rejects=_rejects_path(rejects, path, len(paths)),
            region=settings.phone_default_region,
            sessions=sessions,
        )
        with _progress(path, as_json) as progress:
            try:
                report = import_file(target, path, options, progress=progress)
                publish(report, settings)
            except Exception as exc:
                if len(paths) == 1 and not as_json:
                    raise
                failed = True
                click.secho(f"error: {path}: {exc}", fg="red", err=True)
                continue
        reports.append(report)
        if not as_json:
            for line in report.lines():
                click.echo(line)
    if as_json:
        data: Any = [r.to_dict() for r in reports]
        click.echo(orjson.dumps(data[0] if len(paths) == 1 and data else data, option=orjson.OPT_INDENT_2).decode())
    if failed:
        sys.exit(1)


def _rejects_path(rejects: Path | None, path: Path, files: int) -> Path | None:
    if rejects is None or files == 1:
        return rejects
    return rejects.with_name(f"{rejects.stem}-{path.stem}{rejects.suffix or '.csv'}")


@contextmanager
def _progress(path: Path, quiet: bool) -> Iterator[Progress | None]:
    """A rich progress line on a terminal, plain log lines otherwise."""
    if quiet:
        yield None
        return
    if sys.stderr.isatty():
        from rich.progress import Progress as Bar
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        with Bar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:,} rows"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(f"importing {path.name}", total=None)
            yield lambda rows: bar.update(task, completed=rows)
        return
    log = logging.getLogger("etl.import")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    yield lambda rows: log.info("%s: %d rows read", path.name, rows)


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), help="Default: told by the extension (csv otherwise)."
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Only customers changed on or after this date.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def export_command(
    ctx: click.Context, path: Path, fmt: FileFormat | None, since: dt.datetime | None, as_json: bool
) -> None:
    """Export customers to a file that `customers import` reads back."""
    result = export_customers(conninfo(ctx), path, fmt, since.date() if since else None)
    if as_json:
        click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(f"{result.rows} customers written to {result.path} ({result.format}, {result.bytes} bytes)")


@click.group("samples")
def samples_group() -> None:
    """Sample customer files for demos and benchmarks."""


@samples_group.command("generate")
@click.argument("n", type=click.IntRange(1, 50_000_000))
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--dirty", type=click.FloatRange(0, 0.5), default=0.0, show_default=True, help="Share of deliberately bad rows."
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same file.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), help="Default: told by the extension.")
@click.option("--json", "as_json", is_flag=True, help="Print the list of dirty rows as JSON.")
def samples_generate(n: int, path: Path, dirty: float, seed: int, fmt: FileFormat | None, as_json: bool) -> None:
    """Write N realistic customers (deterministic for a seed) to PATH."""
    if path.is_dir():
        fail(f"{path} is a directory")
    defects = generate(n, path, dirty=dirty, seed=seed, fmt=fmt)
    if as_json:
        click.echo(orjson.dumps({"path": str(path), "rows": n, "dirty": defects}, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"{n} customers written to {path} ({len(defects)} dirty rows)")
    for d in defects[:50]:
        click.echo(f"  row {d.row}: {d.column} {d.code} ({d.what})")
