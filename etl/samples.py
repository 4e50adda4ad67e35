"""Deterministic, realistic customer files (Russian retail) for demos, tests and benchmarks.

The same (n, seed, dirty share) always gives the same rows. Every value of a row is drawn from a
hash of (seed, column, row number), so rows are made a chunk at a time, as whole-column polars
expressions, and `generate` writes the file chunk by chunk: memory does not grow with n, and the
file does not depend on the chunk size. Dirty rows are spread over the file, one defect each, and
listed by `generate` (row as a spreadsheet shows it, column, expected code), so a test can check
that an import rejects exactly them.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
from polars.io.plugins import register_io_source

from etl.sample_words import (
    CITIES,
    DOMAINS,
    FEMALE_FIRST,
    INTERESTS,
    LAST,
    MALE_FIRST,
    PATRONYMIC_ROOTS,
    STORES,
    TRANSLIT,
)

SampleFormat = Literal["csv", "parquet"]

COLUMNS = [
    "phone",
    "email",
    "first_name",
    "last_name",
    "middle_name",
    "birth_date",
    "gender",
    "city",
    "children_count",
    "marital_status",
    "interests",
    "favourite_store",
    "preferred_contact",
    "shoe_size",
    "car_owner",
    "created",
    "loyalty_enabled",
    "meta.legacy_id",
    "meta.registration_channel",
]


@dataclass(frozen=True, slots=True)
class DirtyRow:
    """A deliberately bad row: where it is and what the import must say about it."""

    row: int  # as a spreadsheet shows it: the header is row 1
    column: str
    code: str
    what: str


# one defect per dirty row, taken in turn down the file
_DEFECTS: list[tuple[str, str, str, str]] = [
    ("phone", "12345", "INVALID_FORMAT", "a phone that cannot be normalised"),
    ("birth_date", "31.02.2020", "INVALID_FORMAT", "an impossible date"),
    ("gender", "unknown", "INVALID_ENUM_VALUE", "a gender not among the options"),
    ("children_count", "много", "TYPE_MISMATCH", "text in an integer field"),
    ("email", "ivanov@@mail", "INVALID_FORMAT", "a malformed email"),
    ("phone", "", "DUPLICATE_PHONE", "the phone of the previous good row (in another format)"),
    ("interests", "sport,fishing", "INVALID_ENUM_VALUE", "an interest not among the options"),
    ("shoe_size", "100", "NUMBER_CONSTRAINT", "a shoe size above the maximum of 50"),
    ("children_count", "25", "NUMBER_CONSTRAINT", "more children than the maximum of 20"),
    ("car_owner", "может быть", "TYPE_MISMATCH", "a boolean that is none of true/false/1/0/да/нет"),
    ("first_name", "Я" * 150, "LENGTH_CONSTRAINT", "a first name longer than 100 characters"),
    ("created", "2020-13-01", "INVALID_FORMAT", "a month 13"),
]
_DUPLICATE = next(k for k, defect in enumerate(_DEFECTS) if defect[2] == "DUPLICATE_PHONE")

# Rows are made this many at a time: memory stays that of one chunk whatever the file's size.
CHUNK_ROWS = 100_000

# the shapes a phone is written in, four groups of its ten national digits each, and their weights
_PHONE_SHAPES = [
    ("+7 ({}) {}-{}-{}", 30),
    ("8{}{}{}{}", 25),
    ("7{}{}{}{}", 15),
    ("8 {} {}-{}-{}", 10),
    ("+7{}{}{}{}", 8),
    ("8({}){}{}{}", 5),
    ("+7 {} {} {} {}", 4),
    ("{}{}{}{}", 3),
]
_DUPLICATE_SHAPE = "8 ({}) {}-{}-{}"
# a shape's text before, between and after the digit groups, as one pool per position
_PHONE_PIECES = [list(pieces) for pieces in zip(*(shape.split("{}") for shape, _ in _PHONE_SHAPES), strict=True)]
# second digit of Russian mobile numbers that phonenumbers holds valid whatever follows
_MOBILE_SECOND = [0, 1, 2, 4, 5, 6, 7, 8, 9]
_MOBILE_NUMBERS = len(_MOBILE_SECOND) * 10**8
_FORMULA_ROW = 3
_FORMULA = "=cmd|' /C calc'!A0"

# male forms first, then female ones: a row's gender picks the half
_FIRST = MALE_FIRST + FEMALE_FIRST
_LAST = LAST + [name + "а" for name in LAST]
_MIDDLE = [root + "ич" for root in PATRONYMIC_ROOTS] + [root + "на" for root in PATRONYMIC_ROOTS]
_SHOE_SIZES = [f"{halves / 2:g}" for halves in range(70, 93)]
# every ordered choice of 0 to 4 distinct interests, grouped by how many
_INTEREST_COUNTS = [math.perm(len(INTERESTS), k) for k in range(5)]
_INTEREST_STARTS = [sum(_INTEREST_COUNTS[:k]) for k in range(5)]
_INTEREST_LISTS = [",".join(chosen) for k in range(5) for chosen in itertools.permutations(INTERESTS, k)]

_MASK64 = 2**64 - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_FEISTEL_ROUNDS = 4


def _translit(text: str) -> str:
    return "".join(TRANSLIT.get(ch, ch) for ch in text.lower())


def _u64(value: int) -> pl.Expr:
    return pl.lit(value & _MASK64, dtype=pl.UInt64)


def _mix(x: pl.Expr) -> pl.Expr:
    """SplitMix64's finaliser: scrambles a 64-bit word bijectively (UInt64 arithmetic wraps)."""
    x = x.xor(x // _u64(1 << 30)) * _u64(0xBF58476D1CE4E5B9)
    x = x.xor(x // _u64(1 << 27)) * _u64(0x94D049BB133111EB)
    return x.xor(x // _u64(1 << 31))


def _pool(values: Sequence[str] | Sequence[int]) -> pl.Expr:
    return pl.lit(pl.Series(values))


def _weighted(values: Sequence[str] | Sequence[int], weights: Sequence[int]) -> list[Any]:
    """The values repeated by weight: a uniform pick from the result is the weighted pick."""
    return [value for value, weight in zip(values, weights, strict=True) for _ in range(weight)]


class _Draws:
    """Uniform random words per row and named stream, counter-based: a hash of (seed, stream, row).

    Any row can be drawn on its own, so a chunk needs nothing from the chunks before it and the
    file does not depend on the chunk size; the hash is plain integer arithmetic (no library's
    random generator), so the rows of a seed do not change with the polars version either.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._keys: dict[str, int] = {}

    def word(self, stream: str, index: pl.Expr) -> pl.Expr:
        return _mix(index * _u64(_GOLDEN_GAMMA) + _u64(self._key(stream)))

    def below(self, stream: str, bound: int | pl.Expr, index: pl.Expr) -> pl.Expr:
        """A whole number in [0, bound) (the bias of a 64-bit word modulo a small bound is nil)."""
        return self.word(stream, index) % (bound if isinstance(bound, pl.Expr) else _u64(bound))

    def pick(self, stream: str, values: Sequence[str] | Sequence[int], index: pl.Expr) -> pl.Expr:
        return _pool(values).gather(self.below(stream, len(values), index))

    def shuffle(self, stream: str, values: pl.Series, size: int) -> pl.Series:
        """A pseudo-random one-to-one map of [0, size) onto itself, applied to `values` (nulls stay).

        A Feistel network permutes the smallest power of two that holds `size`; a value it sends
        outside [0, size) is sent through again until it lands inside (cycle walking), which keeps
        the map one-to-one: distinct rows get distinct results with nothing remembered.
        """
        bits = max(2, (size - 1).bit_length())
        x, high, low = pl.col("x"), pl.col("high"), pl.col("low")

        def permute(values: pl.Series) -> pl.Series:
            # x = high · 2^low_bits + low; a round maps it to low · 2^high_bits + (high xor F(low)),
            # one-to-one whatever F; rounds are chained as columns (nesting the expressions would
            # repeat each round's inputs inside the next)
            high_bits = bits // 2
            frame = pl.LazyFrame({"x": values})
            for round_ in range(_FEISTEL_ROUNDS):
                low_bits = bits - high_bits
                frame = frame.select(high=x // (1 << low_bits), low=x % (1 << low_bits)).select(
                    x=high.xor(self.below(f"{stream}#{round_}", 1 << high_bits, low)) + low * (1 << high_bits)
                )
                high_bits = low_bits
            return frame.collect().to_series()

        out = permute(values.cast(pl.UInt64))
        while (outside := out >= size).any():
            where = outside.arg_true()
            out = out.scatter(where, permute(out.gather(where)))
        return out

    def _key(self, stream: str) -> int:
        """The stream's starting word, drawn from the seed and the stream's name."""
        if stream not in self._keys:
            self._keys[stream] = pl.select(_mix(_u64((self.seed << 32) + zlib.crc32(stream.encode())))).item()
        return self._keys[stream]


def _nationals(draws: _Draws, rows: pl.Series) -> pl.Series:
    """The ten-digit mobile number of each row: distinct rows, distinct numbers, across the file."""
    x = draws.shuffle("phone", rows, _MOBILE_NUMBERS)
    second = _pool(_MOBILE_SECOND).cast(pl.UInt64).gather(pl.col("x") // 10**8)
    return pl.DataFrame({"x": x}).select(9 * 10**9 + second * 10**8 + pl.col("x") % 10**8).to_series()


def _digit_groups(national: pl.Expr) -> list[pl.Expr]:
    """The ten national digits as a phone is grouped: 3, 3, 2, 2."""
    digits = national.cast(pl.String)
    return [digits.str.slice(0, 3), digits.str.slice(3, 3), digits.str.slice(6, 2), digits.str.slice(8, 2)]


def _dates(years: range) -> list[str]:
    """Every date of `years` up to the 28th (so valid in any month)."""
    return [f"{year}-{month:02d}-{day:02d}" for year in years for month in range(1, 13) for day in range(1, 29)]


def _russian(date: str) -> str:
    year, month, day = date.split("-")
    return f"{day}.{month}.{year}"


# a date is one pick from all of them: uniform over the days, and for births over both styles
_BIRTH_DATES = _dates(range(1950, 2007)) + [_russian(date) for date in _dates(range(1950, 2007))]
_CREATED_DATES = _dates(range(2015, 2026))
# the e-mail's name part, in the order of the name pools
_FIRST_LATIN = [_translit(name) for name in _FIRST]
_LAST_LATIN = [_translit(name) for name in _LAST]


def _clean_rows(draws: _Draws, start: int, stop: int) -> pl.DataFrame:
    """Rows [start, stop) before any defect, as strings, with their `row` number (from 0)."""
    row = pl.col("row")

    def below(stream: str, bound: int | pl.Expr) -> pl.Expr:
        return draws.below(stream, bound, row)

    def pick(stream: str, values: Sequence[str] | Sequence[int]) -> pl.Expr:
        return draws.pick(stream, values, row)

    def gendered(stream: str, male: int, female: int) -> pl.Expr:
        """An index into a pool of `male` male forms followed by `female` female ones."""
        return pl.when(pl.col("female")).then(male + below(stream, female)).otherwise(below(stream, male))

    rows = pl.int_range(start, stop, dtype=pl.UInt64, eager=True).alias("row")
    frame = pl.DataFrame([rows, _nationals(draws, rows).alias("national")]).with_columns(
        female=below("gender", 100) < 55,
        shape=pick("phone_shape", _weighted(range(len(_PHONE_SHAPES)), [w for _, w in _PHONE_SHAPES])),
        interest_count=below("interest_count", len(_INTEREST_COUNTS)),
    )
    frame = frame.with_columns(
        first=gendered("first_name", len(MALE_FIRST), len(FEMALE_FIRST)),
        last=gendered("last_name", len(LAST), len(LAST)),
    )
    pieces = [_pool(texts).gather(pl.col("shape")) for texts in _PHONE_PIECES]
    groups = _digit_groups(pl.col("national"))
    phone = pl.concat_str(pieces[0], *itertools.chain.from_iterable(zip(groups, pieces[1:], strict=True)))
    email = pl.concat_str(
        _pool(_FIRST_LATIN).gather(pl.col("first")),
        pl.lit("."),
        _pool(_LAST_LATIN).gather(pl.col("last")),
        row.cast(pl.String),
        pl.lit("@"),
        pick("email_domain", DOMAINS),
    )
    interests = _pool(_INTEREST_STARTS).cast(pl.UInt64).gather(pl.col("interest_count")) + below(
        "interests", _pool(_INTEREST_COUNTS).cast(pl.UInt64).gather(pl.col("interest_count"))
    )
    store = pick("favourite_store", STORES)
    return frame.select(
        row,
        phone.alias("phone"),
        pl.when(below("has_email", 10) < 7).then(email).otherwise(pl.lit("")).alias("email"),
        _pool(_FIRST).gather(pl.col("first")).alias("first_name"),
        _pool(_LAST).gather(pl.col("last")).alias("last_name"),
        pl.when(below("has_middle_name", 10) < 8)
        .then(_pool(_MIDDLE).gather(gendered("middle_name", len(PATRONYMIC_ROOTS), len(PATRONYMIC_ROOTS))))
        .otherwise(pl.lit(""))
        .alias("middle_name"),
        pick("birth_date", _BIRTH_DATES).alias("birth_date"),
        pl.when(pl.col("female")).then(pl.lit("female")).otherwise(pl.lit("male")).alias("gender"),
        pick("city", CITIES).alias("city"),
        pick("children_count", _weighted(["0", "1", "2", "3", "4"], [35, 30, 25, 7, 3])).alias("children_count"),
        pick("marital_status", ["single", "married", "married", "divorced", "widowed", ""]).alias("marital_status"),
        _pool(_INTEREST_LISTS).gather(interests).alias("interests"),
        # a formula-like value in a good row: kept as text, never evaluated
        pl.when(row == _FORMULA_ROW).then(pl.lit(_FORMULA)).otherwise(store).alias("favourite_store"),
        pick("preferred_contact", ["sms", "email", "push", "call", ""]).alias("preferred_contact"),
        pick("shoe_size", _SHOE_SIZES).alias("shoe_size"),
        pick("car_owner", ["да", "нет", "true", "false", "1", "0", ""]).alias("car_owner"),
        pick("created", _CREATED_DATES).alias("created"),
        pick("loyalty_enabled", ["true", "true", "true", "false"]).alias("loyalty_enabled"),
        pl.concat_str(pl.lit(f"LEG-{draws.seed:03d}-"), row.cast(pl.String).str.zfill(7)).alias("meta.legacy_id"),
        pick("registration_channel", ["store", "store", "web", "app", "call_center"]).alias(
            "meta.registration_channel"
        ),
    )


class _Defects:
    """Spoils an exact share of the rows, one defect each, spread over the file by a shuffle.

    An eligible row is dirty when the shuffle sends its rank below the wanted count, so the rows
    are chosen without a list of them. Two things are carried from chunk to chunk: how many dirty
    rows came before (defects are taken in turn down the file) and the last good row (a duplicate
    at the top of a chunk repeats a phone from an earlier chunk).
    """

    def __init__(self, draws: _Draws, n: int, share: float) -> None:
        self.draws = draws
        # never row 0 (a duplicate needs an earlier good row) nor the row of the formula-like value
        self.eligible = n - 1 - (n > _FORMULA_ROW)
        self.count = min(round(n * share), self.eligible) if share > 0 else 0
        self.before = 0
        self.last_good = 0

    def spoil(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[DirtyRow]]:
        """The chunk with its dirty rows spoiled, and their list."""
        if self.count == 0:
            return frame, []
        row = pl.col("row")
        rank = frame.select(
            pl.when((row != 0) & (row != _FORMULA_ROW)).then(row - 1 - (row > _FORMULA_ROW).cast(pl.UInt64))
        ).to_series()
        dirty = pl.col("dirty")
        frame = frame.with_columns(
            dirty=(self.draws.shuffle("dirty", rank, self.eligible) < self.count).fill_null(False)
        )
        frame = frame.with_columns(
            defect=pl.when(dirty).then((self.before + dirty.cum_sum().cast(pl.Int64) - 1) % len(_DEFECTS)),
            previous_good=pl.when(~dirty).then(row).shift(1).forward_fill().fill_null(self.last_good),
        )
        repeated = frame.select(pl.when(pl.col("defect") == _DUPLICATE).then(pl.col("previous_good"))).to_series()
        frame = frame.with_columns(_nationals(self.draws, repeated).alias("repeated"))
        spoiled: dict[str, pl.Expr] = {}
        for k, (column, value, _, _) in enumerate(_DEFECTS):
            bad = pl.format(_DUPLICATE_SHAPE, *_digit_groups(pl.col("repeated"))) if k == _DUPLICATE else pl.lit(value)
            spoiled[column] = pl.when(pl.col("defect") == k).then(bad).otherwise(spoiled.get(column, pl.col(column)))
        frame = frame.with_columns(expr.alias(column) for column, expr in spoiled.items())
        listed = frame.select("row", "defect").filter(pl.col("defect").is_not_null())
        self.before += listed.height
        last_good = frame.select(row.filter(~dirty).last()).item()
        if last_good is not None:
            self.last_good = int(last_good)
        return frame, [_dirty_row(row, k) for row, k in listed.iter_rows()]


def _dirty_row(row: int, defect: int) -> DirtyRow:
    column, _, code, what = _DEFECTS[defect]
    return DirtyRow(row + 2, column, code, what)


def _chunks(n: int, *, dirty: float, seed: int, chunk_rows: int) -> Iterator[tuple[pl.DataFrame, list[DirtyRow]]]:
    """The file's rows a chunk at a time (one empty chunk for no rows), with each chunk's dirty rows."""
    draws = _Draws(seed)
    defects = _Defects(draws, n, dirty)
    for start in range(0, max(n, 1), chunk_rows):
        frame, listed = defects.spoil(_clean_rows(draws, start, min(start + chunk_rows, n)))
        yield frame.select(COLUMNS), listed


def build(
    n: int, *, dirty: float = 0.0, seed: int = 1, chunk_rows: int = CHUNK_ROWS
) -> tuple[pl.DataFrame, list[DirtyRow]]:
    """`n` customers as one frame of strings (the rows `generate` writes), and the dirty rows in it."""
    frames: list[pl.DataFrame] = []
    defects: list[DirtyRow] = []
    for frame, listed in _chunks(n, dirty=dirty, seed=seed, chunk_rows=chunk_rows):
        frames.append(frame)
        defects.extend(listed)
    return pl.concat(frames), defects


def generate(
    n: int,
    path: Path,
    *,
    dirty: float = 0.0,
    seed: int = 1,
    fmt: SampleFormat | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> list[DirtyRow]:
    """Write `n` customers to `path` (CSV or Parquet by extension) a chunk at a time; returns the dirty rows."""
    kind = fmt or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    defects: list[DirtyRow] = []

    def frames() -> Iterator[pl.DataFrame]:
        for frame, listed in _chunks(n, dirty=dirty, seed=seed, chunk_rows=chunk_rows):
            defects.extend(listed)
            yield frame

    if kind == "parquet":
        _write_parquet(frames(), path, chunk_rows)
    else:
        _write_csv(frames(), path)
    return defects


def _write_csv(frames: Iterator[pl.DataFrame], path: Path) -> None:
    """One header, then every chunk appended."""
    with path.open("wb") as out:
        for k, frame in enumerate(frames):
            frame.write_csv(out, include_header=k == 0)


def _write_parquet(frames: Iterator[pl.DataFrame], path: Path, row_group_rows: int) -> None:
    """Chunks streamed through polars' Parquet sink (one writer, a row group per chunk), interests as lists."""
    schema: dict[str, pl.DataType] = {name: pl.String() for name in COLUMNS}
    schema["interests"] = pl.List(pl.String)

    def source(
        with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        # the sink reads every column of every row: nothing to project or filter
        for frame in frames:
            interests = pl.col("interests")
            yield frame.with_columns(pl.when(interests != "").then(interests.str.split(",")).alias("interests"))

    register_io_source(source, schema=schema).sink_parquet(path, row_group_size=row_group_rows)
