"""Duplicates inside a file: a phone on several rows, an email given for several phones.

The staging path resolves them once the whole file is staged (a repeat may sit in another
frame), from the keys of the valid rows, by the `--on-duplicate` policy; the parallel path finds
them in the database as it merges (`etl.chunk_merge`).
"""

from __future__ import annotations

from typing import Literal

import polars as pl

OnDuplicate = Literal["first", "last", "reject"]


def resolve_duplicates(keys: pl.DataFrame, policy: OnDuplicate) -> tuple[pl.DataFrame, pl.DataFrame]:
    """From (row, phone, email) of every valid row, the rows dropped as duplicates of a phone and
    the rows rejected; both as reject frames. Emails repeated by different phones keep their
    first row; later ones are rejected (EMAIL_EXISTS)."""
    counts = pl.col("row").count().over("phone")
    if policy == "reject":
        dup_mask = counts > 1
    elif policy == "first":
        dup_mask = pl.col("row") != pl.col("row").min().over("phone")
    else:
        dup_mask = pl.col("row") != pl.col("row").max().over("phone")
    marked = keys.with_columns(dup_mask.alias("dup"), counts.alias("n"))
    dropped = marked.filter(pl.col("dup")).select(
        "row",
        pl.lit("phone").alias("column"),
        pl.lit("DUPLICATE_PHONE").alias("code"),
        pl.col("phone").cast(pl.String).alias("value"),
        pl.format("the phone appears in {} rows (--on-duplicate {})", pl.col("n"), pl.lit(policy)).alias("message"),
    )
    kept = marked.filter(~pl.col("dup"))
    first_email = pl.col("row").min().over("email")
    email_dups = kept.filter(pl.col("email").is_not_null() & (pl.col("row") != first_email)).select(
        "row",
        pl.lit("email").alias("column"),
        pl.lit("EMAIL_EXISTS").alias("code"),
        pl.col("email").alias("value"),
        pl.lit("the email is given for another phone earlier in the file").alias("message"),
    )
    if policy == "reject":
        return dropped.head(0), pl.concat([dropped, email_dups]).sort("row")
    return dropped.sort("row"), email_dups.sort("row")
