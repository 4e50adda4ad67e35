"""Phones and emails of a whole column at once, equal value by value to `customers.contacts`.

A vectorised fast path takes the shapes whose result is certain; the HTTP path's own functions
(`normalize_phone`, `normalize_email`) take only the distinct values it leaves, once each.
"""

from __future__ import annotations

import polars as pl

from customers.contacts import (
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    FAST_REGIONS,
    INVALID_EMAIL,
    RU_BARE,
    RU_SHAPE,
    InvalidEmail,
    InvalidPhone,
    normalize_email,
    normalize_phone,
    region_patterns,
)


def bulk_phones(raw: pl.Series, region: str = "RU") -> tuple[pl.Series, pl.Series]:
    """Normalise a column of phones; returns (E.164 digits or null, error message or null).

    Equal to `normalize_phone` value by value: the same fast path (`region_patterns`), as column
    expressions, takes the shapes where phonenumbers' result is certain; the rest goes through
    `normalize_phone`, once per distinct value."""
    frame = pl.DataFrame({"raw": raw.cast(pl.String)})
    frame = frame.with_columns(pl.col("raw").str.strip_chars().alias("text"))
    if region in FAST_REGIONS:
        general, valid = region_patterns(region)
        bare = pl.col("text").str.contains(RU_BARE)
        national = pl.when(bare).then(pl.col("text")).otherwise(pl.col("text").str.replace_all(r"\D", "").str.slice(1))
        fast = (
            pl.when(
                (bare | pl.col("text").str.contains(RU_SHAPE))
                & national.str.contains(general)
                & national.str.contains(valid)
            )
            .then(pl.lit("7") + national)
            .otherwise(None)
        )
        frame = frame.with_columns(fast.alias("fast"))
    else:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("fast"))
    rest = frame.filter(pl.col("fast").is_null() & pl.col("raw").is_not_null()).get_column("raw").unique()
    if rest.is_empty():
        return frame.get_column("fast").alias(raw.name), pl.Series(raw.name, [None] * len(raw), dtype=pl.String)
    phones: list[str | None] = []
    messages: list[str | None] = []
    for value in rest.to_list():
        try:
            phones.append(normalize_phone(value, region))
            messages.append(None)
        except InvalidPhone as exc:
            phones.append(None)
            messages.append(str(exc))
    looked_up = pl.DataFrame(
        {"raw": rest, "slow": pl.Series(phones, dtype=pl.String), "message": pl.Series(messages, dtype=pl.String)}
    )
    out = frame.join(looked_up, on="raw", how="left", maintain_order="left", nulls_equal=False)
    return (
        out.select(pl.coalesce("fast", "slow")).to_series().alias(raw.name),
        out.get_column("message").alias(raw.name),
    )


# printable ASCII: Python's str.strip/lower and polars' strip_chars/to_lowercase agree on it
_PRINTABLE_ASCII = r"^[\x20-\x7e]*$"


def bulk_emails(raw: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Normalise a column of emails; returns (address or null, error message or null), equal
    to `normalize_email` value by value."""
    frame = pl.DataFrame({"raw": raw.cast(pl.String)})
    cleaned = pl.col("raw").str.strip_chars(" ").str.to_lowercase()
    simple = pl.col("raw").str.contains(_PRINTABLE_ASCII)
    good = (cleaned.str.len_chars() <= EMAIL_MAX_LENGTH) & cleaned.str.contains(EMAIL_PATTERN)
    frame = frame.with_columns(
        pl.when(simple & good).then(cleaned).alias("fast"),
        pl.when(simple & ~good).then(pl.lit(INVALID_EMAIL)).alias("fast_message"),
    )
    rest = frame.filter(~pl.col("raw").str.contains(_PRINTABLE_ASCII)).get_column("raw").unique()
    if rest.is_empty():
        return frame.get_column("fast").alias(raw.name), frame.get_column("fast_message").alias(raw.name)
    emails: list[str | None] = []
    messages: list[str | None] = []
    for value in rest.to_list():
        try:
            emails.append(normalize_email(value))
            messages.append(None)
        except InvalidEmail as exc:
            emails.append(None)
            messages.append(str(exc))
    looked_up = pl.DataFrame(
        {"raw": rest, "slow": pl.Series(emails, dtype=pl.String), "slow_message": pl.Series(messages, dtype=pl.String)}
    )
    out = frame.join(looked_up, on="raw", how="left", maintain_order="left")
    return (
        out.select(pl.coalesce("fast", "slow")).to_series().alias(raw.name),
        out.select(pl.coalesce("fast_message", "slow_message")).to_series().alias(raw.name),
    )
