"""Helpers of the import/export tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg


def customers(conn: psycopg.Connection[Any]) -> dict[str, dict[str, Any]]:
    """Every customer by phone, without id and timestamps."""
    rows = conn.execute(
        "SELECT phone, email, email_confirmed, source_id, blocked, loyalty_enabled, accept_tender_offer, "
        "prioritize_sms_verification, created, profile, meta FROM customers"
    ).fetchall()
    names = [
        "phone",
        "email",
        "email_confirmed",
        "source_id",
        "blocked",
        "loyalty_enabled",
        "accept_tender_offer",
        "prioritize_sms_verification",
        "created",
        "profile",
        "meta",
    ]
    return {row[0]: dict(zip(names, row, strict=False)) for row in rows}


def rejects_of(path: Path) -> list[tuple[int, str, str]]:
    """(row, column, code) of a rejects file."""
    import polars as pl

    frame = pl.read_csv(path, infer_schema=False)
    return [(int(r), c, k) for r, c, k in frame.select("row", "column", "code").iter_rows()]
