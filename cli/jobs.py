"""Commands of the scheduled jobs: `customers scheduler`, `customers jobs ...`, `customers stats`."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import sys
from typing import Any

import click

from cli.context import emit, fail, run_async, settings_from
from customers import db
from jobs import history, stats
from jobs.runner import RunProgress, ensure_known, run_job
from jobs.schedule import entries_for, jobs_by_name
from jobs.triggers import load_jobs_settings


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@click.command("scheduler")
@click.option("--no-migrate", is_flag=True, help="Do not apply pending migrations before starting.")
@click.pass_context
def scheduler(ctx: click.Context, no_migrate: bool) -> None:
    """Run the scheduled jobs (in the foreground, until SIGTERM or Ctrl-C).

    Start as many as you like: one leader (a PostgreSQL advisory lock) runs the triggers, the
    others take over within one minute if it goes away.
    """
    from jobs.scheduler import serve

    settings = settings_from(ctx)
    jobs_settings = load_jobs_settings()
    _configure_logging()
    target = db.resolve(settings)
    if not no_migrate:
        with db.connect(target.conninfo) as conn:
            db.migrate(conn)
    logging.getLogger("customers.jobs").info("scheduler started (%s)", target.description)
    sys.exit(serve(settings, target.conninfo, jobs_settings=jobs_settings))


@click.group("jobs")
def jobs_group() -> None:
    """Scheduled jobs: the timetable, running one now, the history of runs."""


def _when(value: Any) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _run_line(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never run"
    text = f"{run['status']} at {_when(run['finished_at'] or run['started_at'])} ({run['seconds']:.1f} s)"
    if run["error"]:
        text += ": " + run["error"].splitlines()[0]
    elif run["result"]:
        text += ": " + ", ".join(f"{k}={v}" for k, v in run["result"].items() if not isinstance(v, (list, dict)) or v)
    return text


@jobs_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def jobs_list(ctx: click.Context, as_json: bool) -> None:
    """Every job: its schedule, next run, last result, and the current leader."""
    entries = entries_for(settings_from(ctx), load_jobs_settings())
    result = run_async(ctx, lambda conn: history.list_jobs(conn, entries))

    def human(r: dict[str, Any]) -> None:
        leader = r["leader"]
        click.echo(
            f"leader: {leader['application_name']} (backend {leader['pid']})"
            if leader
            else "leader: none (no scheduler is running)"
        )
        for item in r["items"]:
            state = item["unavailable"] or ("off" if not item["scheduled"] else f"next {_when(item['next_run'])}")
            click.echo(f"{item['name']:<20} {item['schedule']:<26} {state}")
            if item["running"]:
                progress = (item["running"]["progress"] or {}).get("message") or "running"
                click.echo(f"{'':<20} running since {_when(item['running']['started_at'])}: {progress}")
            click.echo(f"{'':<20} last: {_run_line(item['last_run'])}")

    emit(result, as_json, human)


@jobs_group.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def jobs_run(ctx: click.Context, name: str, as_json: bool) -> None:
    """Run job NAME now, in the foreground, showing its progress; exits 1 if it fails."""
    settings = settings_from(ctx)
    jobs_settings = load_jobs_settings()
    job = ensure_known(name, jobs_by_name())
    target = db.resolve(settings)

    def show(progress: RunProgress) -> None:
        counts = (
            f" ({progress.done}/{progress.total})"
            if progress.total
            else (f" ({progress.done})" if progress.done is not None else "")
        )
        click.echo(f"{job.name}: {progress.message}{counts}", err=True)

    async def main() -> dict[str, Any] | None:
        task = asyncio.current_task()
        assert task is not None
        # SIGTERM interrupts the run like Ctrl-C: it is recorded as interrupted
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run_job(
            job,
            conninfo=target.conninfo,
            settings=settings,
            origin="cli",
            history_days=jobs_settings.jobs_history_days,
            on_progress=show,
        )

    try:
        run = asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        fail(f"job {job.name} interrupted (recorded as interrupted)")
    assert run is not None
    emit(run, as_json, lambda r: click.echo(f"{job.name} (run {r['id']}): {_run_line(r)}"))
    if run["status"] != "succeeded":
        sys.exit(1)


@jobs_group.command("history")
@click.argument("name", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000), help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def jobs_history(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """The latest runs, newest first (of job NAME only when given)."""
    known = set(jobs_by_name())
    result = run_async(ctx, lambda conn: history.history(conn, name, limit, known))

    def human(r: dict[str, Any]) -> None:
        if not r["items"]:
            click.echo("no runs recorded")
        for run in r["items"]:
            click.echo(f"{run['id']:>6} {run['job']:<20} {run['origin']:<8} {_run_line(run)}")

    emit(result, as_json, human)


@click.command("stats")
@click.option("--fresh", is_flag=True, help="Compute the statistics now instead of showing the last snapshot.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def stats_command(ctx: click.Context, fresh: bool, as_json: bool) -> None:
    """Basic statistics of the customers (the last snapshot of the stats-refresh job)."""
    snapshot = run_async(ctx, lambda conn: stats.current(conn, fresh))

    def human(s: dict[str, Any]) -> None:
        c = s["customers"]
        click.echo(f"snapshot {s['id']} taken {_when(s['taken_at'])} ({s['duration_ms']} ms)")
        click.echo(
            f"customers {c['total']}  blocked {c['blocked']}  with email {c['with_email']}  "
            f"confirmed email {c['confirmed_email']}  loyalty {c['loyalty_enabled']}"
        )
        recent = s["created_per_day"][-7:]
        click.echo("created, last 7 days: " + "  ".join(f"{d['date']:%m-%d} {d['count']}" for d in _dates(recent)))
        click.echo(
            "created per month: " + "  ".join(f"{m['month']} {m['count']}" for m in s["created_per_month"][-12:])
        )
        for f in s["fields"]:
            top = ", ".join(f"{t['value']} ({t['count']})" for t in (f["top_values"] or [])[:3])
            click.echo(f"  {f['part'] + '.' + f['key']:<32} filled {f['fill_rate'] * 100:5.1f}%  {top}")

    emit(snapshot, as_json, human)


def _dates(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**d, "date": dt.date.fromisoformat(d["date"])} for d in days]
