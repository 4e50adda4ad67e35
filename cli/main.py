"""The `customers` command group: global options, expected errors as one line, the subcommands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from cli import bulk, database, jobs, search, serve, settings
from cli.context import fail
from customers import db
from customers.config import SETTINGS_FILE_ENV, ConfigError, get_settings
from customers.errors import CustomersError


class Group(click.Group):
    """Turns expected errors into one line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (CustomersError, ConfigError) as exc:
            fail(str(exc))
        except db.DRIVER_ERRORS as exc:
            translated = db.translate(exc)  # e.g. no server: DatabaseUnavailable, one line
            if not isinstance(translated, CustomersError):
                raise
            fail(str(translated))


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


for command in (
    database.db_group,
    settings.settings_group,
    serve.serve,
    bulk.import_command,
    bulk.export_command,
    bulk.samples_group,
    search.search_group,
    jobs.scheduler,
    jobs.jobs_group,
    jobs.stats_command,
):
    main.add_command(command)
