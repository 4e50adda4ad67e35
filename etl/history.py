"""Reading the import runs back: the latest runs and one run with its report (the admin page's
history; the runs are written by `etl.load.start_run` / `finish_run`)."""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row

from customers.db import AsyncConn, translated

_COLUMNS = (
    "id, file, size, checksum, format, mode, status, rows_read, inserted, updated, unchanged, rejected, "
    "duplicates, started_at, finished_at, committed_at, error"
)


async def list_runs(conn: AsyncConn, limit: int = 50) -> list[dict[str, Any]]:
    """The latest runs, newest first (without their reports)."""
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT {_COLUMNS} FROM import_runs ORDER BY id DESC LIMIT %s", (limit,))
        return await cur.fetchall()


async def get_run(conn: AsyncConn, run_id: int) -> dict[str, Any] | None:
    """One run with its report, or None."""
    async with translated:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT {_COLUMNS}, report FROM import_runs WHERE id = %s", (run_id,))
        return await cur.fetchone()
