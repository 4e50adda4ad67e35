"""`customers serve`: the HTTP service under uvicorn."""

from __future__ import annotations

import ipaddress
import socket

import click

from cli.context import fail, settings_from
from customers import db

# uvicorn imports the application by name in every worker process: each composition has a
# factory of its own in `cli.app` (importing it here would load the web stack for every command)
APP_FACTORIES = {False: "cli.app:service", True: "cli.app:service_with_scheduler"}


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (every address it resolves to is loopback)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


@click.command("serve")
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
    click.echo(f"serving on http://{host}:{port} ({target.description}, {workers} worker(s))")
    from customers import logs, metrics

    if workers > 1 and metrics.multiprocess_dir() is None:
        # the workers' metrics meet in files there, so /metrics answers for all of them
        metrics.prepare_multiprocess(settings.customers_data_dir.expanduser().resolve() / "metrics")
    uvicorn.run(
        APP_FACTORIES[with_scheduler],
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=logs.dict_config(settings.log_level),
    )
