"""A reject: one problem of one input row, as a frame row (row, column, code, value, message).

Every stage adds rejects (a cell breaking a rule, a phone repeated inside the file, an email
that another customer holds); the report counts them by row and writes them to the rejects file.
"""

from __future__ import annotations

import polars as pl

REJECT_SCHEMA = {"row": pl.Int64, "column": pl.String, "code": pl.String, "value": pl.String, "message": pl.String}
# raw values in the rejects file are cut here, so that a 10 MB field does not make a 10 MB reject
RAW_VALUE_LIMIT = 1000


def empty_rejects() -> pl.DataFrame:
    """No rejects, in the reject columns and types."""
    return pl.DataFrame(schema=REJECT_SCHEMA)


def raw_value(cell: pl.Expr) -> pl.Expr:
    """A cell as its reject shows it: cut at RAW_VALUE_LIMIT characters."""
    return (
        pl.when(cell.str.len_chars() > RAW_VALUE_LIMIT)
        .then(cell.str.slice(0, RAW_VALUE_LIMIT) + pl.lit("…"))
        .otherwise(cell)
    )
