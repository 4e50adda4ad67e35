"""The `customers` command group: global options, expected errors as one line, the subcommands."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import click

from cli.context import fail
from customers import db
from customers.config import SETTINGS_FILE_ENV, ConfigError, get_settings
from customers.errors import CustomersError

# Each subcommand by where it is defined: a command imports its module (and what that module
# needs: the scheduler, the search client, the web stack) only when it runs or help lists it,
# so `customers import` does not pay for loading the others.
_COMMANDS = {
    "db": "cli.database:db_group",
    "settings": "cli.settings:settings_group",
    "serve": "cli.serve:serve",
    "import": "cli.bulk:import_command",
    "export": "cli.bulk:export_command",
    "samples": "cli.bulk:samples_group",
    "search": "cli.search:search_group",
    "scheduler": "cli.jobs:scheduler",
    "jobs": "cli.jobs:jobs_group",
    "stats": "cli.jobs:stats_command",
}


class Group(click.Group):
    """Turns expected errors into one line and a non-zero exit; loads subcommands when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, name = _COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module), name)
            assert command.name == cmd_name, f"{_COMMANDS[cmd_name]} is named {command.name}"
            self.add_command(command)
        return super().get_command(ctx, cmd_name)

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
