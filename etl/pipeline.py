"""One file through the stages: read → validate → load → report.

Reading and validating run in a worker thread (polars releases the GIL) while the main thread
streams the previous frame through COPY, so the file is parsed while PostgreSQL ingests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import errors as pg_errors

from customers import db, metrics
from customers.config import Settings
from customers.errors import CustomersError, DatabaseUnavailable
from etl.chunk_merge import ChunkMerge
from etl.duplicates import OnDuplicate, resolve_duplicates
from etl.load import Mode, Staging, copy_frames, current_questionnaire, finish_run, start_run
from etl.parallel_copy import ParallelCopy
from etl.read import FileRejected, ReadOptions, Source, batches, file_checksum, open_source
from etl.rejects import empty_rejects
from etl.report import Report, summarise_rejects, write_rejects
from etl.staging import drop_chunks, drop_dead_chunks, hold_run_lock
from etl.validate import ValidatedBatch, ValidationPlan

log = logging.getLogger(__name__)
ImportProgress = Callable[[int], None]  # called with the number of rows read so far


@dataclass(frozen=True)
class ImportOptions:
    """What `customers import` was asked to do with each file."""

    read: ReadOptions = field(default_factory=ReadOptions)
    mode: Mode = "insert"
    on_duplicate: OnDuplicate = "first"
    dry_run: bool = False
    ignore_unknown: bool = False
    rejects: Path | None = None
    region: str = "RU"
    # insert mode with first-row-wins loads over parallel sessions (see `_load_parallel`)
    direct: bool = True
    # sessions COPYing into chunk tables at once on that path, beside the merging one. One: on
    # two cores shared with PostgreSQL a second copying backend only takes CPU from the merge
    # (measured in docs/import.md); more pay where the server has cores to spare
    sessions: int = 1


class _Done:
    pass


_DONE = _Done()


def import_file(
    conninfo: str,
    path: Path,
    options: ImportOptions,
    *,
    progress: ImportProgress | None = None,
    after_copy: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> Report:
    """Import one file; returns its report. Raises FileRejected before anything is written when
    the file as a whole cannot be imported, DatabaseUnavailable when the server goes away (the
    load is then rolled back; running the command again completes it). `after_copy` is called
    after each COPY'd frame (a hook for tests)."""
    started = time.monotonic()
    source = open_source(path, options.read)
    report = Report(
        file=str(path.resolve()),
        format=source.format,
        mode=options.mode,
        dry_run=options.dry_run,
        size=source.size,
        started_at=dt.datetime.now(dt.UTC),
    )
    hasher = ThreadPoolExecutor(max_workers=1)
    checksum = hasher.submit(file_checksum, path)
    try:
        with db.connect(conninfo, autocommit=True) as control:
            questionnaire = current_questionnaire(control)
            plan = ValidationPlan(
                questionnaire, source.columns, region=options.region, ignore_unknown=options.ignore_unknown
            )
            if source.format == "parquet":
                plan.check_types(source.schema)
            report.questionnaire_version = questionnaire.version
            report.ignored_columns = plan.ignored
            run_id = start_run(
                control, file=report.file, size=source.size, checksum=None, format=source.format, mode=options.mode
            )
            report.run_id = run_id
            hold_run_lock(control, run_id)
            drop_dead_chunks(control)
            try:
                if options.direct and options.mode == "insert" and options.on_duplicate == "first":
                    try:
                        _load_parallel(conninfo, source, plan, options, report, progress, after_copy)
                    except _Conflict as exc:
                        log.info("parallel load of %s abandoned (%s); loading through staging", path, exc)
                        drop_chunks(control, run_id)
                        report.counts = type(report.counts)()
                        report.timings.clear()
                        _load(conninfo, source, plan, options, report, progress, after_copy)
                else:
                    _load(conninfo, source, plan, options, report, progress, after_copy)
                report.checksum = checksum.result()
            except BaseException as exc:
                report.status = "failed"
                report.error = _one_line(exc)
                report.seconds = time.monotonic() - started
                _record_failure(conninfo, control, run_id, report)
                _drop_chunks_after_failure(conninfo, control, run_id)
                if _connection_lost(exc):
                    raise DatabaseUnavailable(
                        f"the database connection was lost during the load of {path}; "
                        "nothing was written, run the command again"
                    ) from exc
                raise
            drop_chunks(control, run_id)  # a dry run's rollback kept them
            report.seconds = time.monotonic() - started
            if options.rejects is not None:
                report.rejects_file = str(options.rejects)
            finish_run(control, run_id, report.status, report.to_dict())
        return report
    finally:
        hasher.shutdown(wait=True)
        source.close()


def _record_failure(conninfo: str, control: psycopg.Connection[Any], run_id: int, report: Report) -> None:
    try:
        finish_run(control, run_id, "failed", report.to_dict(), report.error)
    except psycopg.Error:
        try:  # the control connection may have gone with the server; one fresh try
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as again:
                finish_run(again, run_id, "failed", report.to_dict(), report.error)
        except psycopg.Error:
            log.warning("import run %s could not be marked failed; it stays 'running'", run_id)


def _drop_chunks_after_failure(conninfo: str, control: psycopg.Connection[Any], run_id: int) -> None:
    try:
        drop_chunks(control, run_id)
    except psycopg.Error:
        try:  # the control connection may have gone with the server; one fresh try
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as again:
                drop_chunks(again, run_id)
        except psycopg.Error:
            log.warning("chunk tables of import run %s left for the next import or the cleanup job", run_id)


def _connection_lost(exc: BaseException) -> bool:
    """The server went away or ended the session (not an error of the statement itself)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


def _one_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _load(
    conninfo: str,
    source: Source,
    plan: ValidationPlan,
    options: ImportOptions,
    report: Report,
    progress: ImportProgress | None,
    after_copy: Callable[[psycopg.Connection[Any]], None] | None,
) -> None:
    assert report.run_id is not None
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET LOCAL synchronous_commit = off")
        staging = Staging(conn, report.run_id)
        clock = time.monotonic()
        # the table is created in the transaction that copies into it, so that COPY FREEZE applies
        staging.create()
        rejects, keys = _stream(conn, staging, source, plan, batches(source), progress, after_copy)
        report.timings["stream"] = round(time.monotonic() - clock, 3)
        report.counts.read = staging.rows + rejects.get_column("row").n_unique()
        if report.counts.read == 0:
            raise FileRejected(f"{source.path} has a header but no data rows")
        dropped, rejected_dups = resolve_duplicates(keys, options.on_duplicate)
        staging.drop_rows(pl.concat([dropped.get_column("row"), rejected_dups.get_column("row")]))
        result = staging.merge(options.mode, report.timings)
        assert result.rejects is not None
        everything = pl.concat([rejects, rejected_dups, result.rejects, dropped], how="vertical_relaxed")
        report.counts.inserted = result.inserted
        report.counts.updated = result.updated
        report.counts.unchanged = result.unchanged
        summarise_rejects(report, everything, dropped.height)
        report.changed_since = result.changed_since
        report.first_inserted_id, report.last_inserted_id = result.first_id, result.last_id
        report.touched = result.inserted + result.updated
        if not report.counts.balanced:
            raise CustomersError(
                f"internal error: the row counts do not add up ({report.counts}); the load was rolled back"
            )
        conn.execute(f"DROP TABLE {staging.name.as_string(conn)}")
        _finish(conn, options, report)
    if options.rejects is not None:
        write_rejects(options.rejects, everything)


def _validated(plan: ValidationPlan, frames: Iterator[pl.DataFrame]) -> Generator[ValidatedBatch, None, None]:
    """Validate frames in a worker thread, one frame ahead of the consumer (memory stays at a
    couple of frames); errors of the worker are raised here."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    return
                handoff.put(plan.apply(frame))
            handoff.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            handoff.put(exc)

    worker = threading.Thread(target=produce, name="import-validate", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)
        worker.join()


def _stream(
    conn: psycopg.Connection[Any],
    staging: Staging,
    source: Source,
    plan: ValidationPlan,
    frames: Iterator[pl.DataFrame],
    progress: ImportProgress | None,
    after_copy: Callable[[psycopg.Connection[Any]], None] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """COPY every validated frame into staging; returns (rejects, keys of the staged rows)."""
    rejects = [empty_rejects()]
    keys: list[pl.DataFrame] = []
    read = 0
    with conn.cursor().copy(staging.copy_statement()) as copy:
        for item in _validated(plan, frames):
            copy_frames(copy, item.good)
            staging.rows += item.good.height
            read += item.read
            if item.rejects.height:
                rejects.append(item.rejects)
            # phones as integers: the keys of a 5M-row file stay small
            keys.append(item.good.select(pl.col("__row").alias("row"), pl.col("phone").cast(pl.Int64), "email"))
            if progress is not None:
                progress(read)
            if after_copy is not None:
                after_copy(conn)
    keys_frame = (
        pl.concat(keys) if keys else pl.DataFrame(schema={"row": pl.Int64, "phone": pl.Int64, "email": pl.String})
    )
    return pl.concat(rejects, how="vertical_relaxed"), keys_frame


class _Conflict(Exception):
    """A concurrent writer took a phone or email the parallel path was inserting."""


def _load_parallel(
    conninfo: str,
    source: Source,
    plan: ValidationPlan,
    options: ImportOptions,
    report: Report,
    progress: ImportProgress | None,
    after_copy: Callable[[psycopg.Connection[Any]], None] | None,
) -> None:
    """Insert mode, first row wins: validated frames go into chunk tables over several sessions
    at once (`etl.parallel_copy`) while one transaction merges the committed chunks into
    customers in file order (`etl.chunk_merge`); nothing is visible before that transaction
    commits, and no key of the file is kept in memory here."""
    assert report.run_id is not None
    clock = time.monotonic()
    merge_seconds = 0.0
    rejects = [empty_rejects()]
    read = 0
    validated = _validated(plan, batches(source))
    try:
        with psycopg.connect(conninfo) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            merge = ChunkMerge(conn, report.run_id)
            with ParallelCopy(conninfo, report.run_id, validated, options.sessions) as copier:
                number = 0
                while (chunk := copier.chunk(number)) is not None:
                    read += chunk.read
                    if chunk.rejects.height:
                        rejects.append(chunk.rejects)
                    started = time.monotonic()
                    try:
                        merge.merge(number, chunk.duplicates, chunk.seen)
                    except pg_errors.UniqueViolation as exc:
                        raise _Conflict(str(exc)) from None
                    merge_seconds += time.monotonic() - started
                    number += 1
                    if progress is not None:
                        progress(read)
                    if after_copy is not None:
                        after_copy(conn)
            if read == 0:
                raise FileRejected(f"{source.path} has a header but no data rows")
            report.timings["stream"] = round(time.monotonic() - clock, 3)
            report.timings["copy"] = round(copier.copy_seconds, 3)
            report.timings["merge"] = round(merge_seconds, 3)
            result = merge.result
            dropped = pl.concat([empty_rejects(), *map(_duplicate_rejects, result.duplicates)], how="vertical_relaxed")
            taken = [_email_rejects(t) for t in result.taken]
            everything = pl.concat([*rejects, *taken, dropped], how="vertical_relaxed")
            report.counts.read = read
            report.counts.inserted = result.inserted
            report.counts.unchanged = result.unchanged
            summarise_rejects(report, everything, dropped.height)
            report.changed_since = merge.changed_since
            report.first_inserted_id, report.last_inserted_id = result.first_id, result.last_id
            report.touched = result.inserted
            if not report.counts.balanced:
                raise CustomersError(
                    f"internal error: the row counts do not add up ({report.counts}); the load was rolled back"
                )
            _finish(conn, options, report)
    finally:
        validated.close()
    if options.rejects is not None:
        write_rejects(options.rejects, everything)


def _finish(conn: psycopg.Connection[Any], options: ImportOptions, report: Report) -> None:
    """Commit (or roll back a dry run) and note when."""
    if options.dry_run:
        conn.rollback()
        report.status = "dry_run"
        return
    clock = time.monotonic()
    conn.commit()
    report.timings["commit"] = round(time.monotonic() - clock, 3)
    row = conn.execute("SELECT now()").fetchone()
    conn.rollback()
    report.committed_at = row[0] if row else None
    report.status = "succeeded"


def _duplicate_rejects(dups: pl.DataFrame) -> pl.DataFrame:
    return dups.select(
        pl.col("__row").alias("row"),
        pl.lit("phone").alias("column"),
        pl.lit("DUPLICATE_PHONE").alias("code"),
        pl.col("phone").alias("value"),
        pl.lit("the phone appears in an earlier row (--on-duplicate first)").alias("message"),
    )


def _email_rejects(taken: pl.DataFrame) -> pl.DataFrame:
    return taken.select(
        pl.col("__row").alias("row"),
        pl.lit("email").alias("column"),
        pl.lit("EMAIL_EXISTS").alias("code"),
        pl.col("email").alias("value"),
        pl.lit("the email belongs to another customer or another phone earlier in the file").alias("message"),
    )


def publish(report: Report, settings: Settings) -> None:
    """After a committed import: count its rows for /metrics and bring the search index up to
    date in chunks. The load has committed, so a search failure is reported and counted, never
    turned into a failed import (`customers search migrate` repairs the index)."""
    if report.dry_run or report.status != "succeeded":
        return
    c = report.counts
    metrics.IMPORT_ROWS.labels("loaded").inc(c.inserted + c.updated + c.unchanged)
    metrics.IMPORT_ROWS.labels("rejected").inc(c.rejected)
    metrics.IMPORT_ROWS.labels("duplicate").inc(c.duplicates)
    if not settings.search_enabled or not report.touched or report.changed_since is None:
        return
    from customers import search

    try:
        report.search_indexed = search.reindex_since(settings, report.changed_since)
    except Exception as exc:  # noqa: BLE001 - any search failure leaves the committed load as it is
        metrics.SEARCH_INDEX_WRITE_FAILURES.labels("import").inc(report.touched)
        report.search_error = _one_line(exc)
        log.warning("search index not updated after import run %s: %s", report.run_id, report.search_error)
