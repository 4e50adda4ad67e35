"""Stage 1, read: open a CSV or Parquet file and stream it as polars frames of bounded size.

Every frame carries `__row`, the row number a user sees in a spreadsheet (the header is row 1,
the first data row is row 2; without a header the first data row is row 1), and, for CSV,
`__ragged`: the number of fields a row has when it differs from the header's.
CSV cells arrive as strings (empty cell = ""), Parquet columns keep their types. CSV lines are
read by polars a batch at a time; from the first batch holding a line that is not one row of the
header's field count (too few or too many fields, a quoted field spanning lines, a blank line)
to the end of the file, the exact reader (Python's csv module) takes over, which makes such
rows rejects instead of guesses.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import os
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from customers.errors import CustomersError

Format = Literal["csv", "parquet"]
Encoding = Literal["utf-8", "utf-8-sig", "cp1251"]
ROW = "__row"
RAGGED = "__ragged"
DELIMITERS = (",", ";", "\t")
_SNIFF_BYTES = 1 << 16


class FileRejected(CustomersError):
    """A file that cannot be imported at all (missing, unreadable, malformed as a whole)."""

    code = "IMPORT_FILE_INVALID"
    status = 422


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; None means auto-detect."""

    format: Format | None = None
    delimiter: str | None = None
    quote_char: str = '"'
    has_header: bool = True
    encoding: Encoding = "utf-8"
    batch_size: int = 50_000
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass
class Source:
    """An opened input file: what it is and the columns it has (after the mapping)."""

    path: Path
    format: Format
    size: int
    columns: list[str]
    source_columns: list[str]
    options: ReadOptions
    delimiter: str = ","
    schema: dict[str, pl.DataType] = field(default_factory=dict)
    _utf8_copy: Path | None = None

    def close(self) -> None:
        """Remove the transcoded copy of a cp1251 file, if one was made."""
        if self._utf8_copy is not None:
            self._utf8_copy.unlink(missing_ok=True)
            self._utf8_copy = None


def load_mapping(path: Path) -> dict[str, str]:
    """Read a column mapping file (TOML or JSON): `{"Телефон": "phone", ...}`."""
    if not path.is_file():
        raise FileRejected(f"mapping file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise FileRejected(
            f"mapping file {path} is not valid {path.suffix.lstrip('.').upper() or 'JSON'}: {exc}"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("columns"), dict):
        data = data["columns"]
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise FileRejected(f"mapping file {path} must map source column names to target names (strings)")
    return dict(data)


def file_checksum(path: Path) -> str:
    """sha256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def detect_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    raise FileRejected(f"{path}: cannot tell the format from the extension {suffix!r}; pass --format csv or parquet")


def open_source(path: Path, options: ReadOptions) -> Source:
    """Check the file and read its header; FileRejected says what is wrong."""
    if not path.exists():
        raise FileRejected(f"{path}: no such file")
    if path.is_dir():
        raise FileRejected(f"{path} is a directory, not a file")
    size = path.stat().st_size
    if size == 0:
        raise FileRejected(f"{path} is empty")
    kind = options.format or detect_format(path)
    if kind == "parquet":
        return _open_parquet(path, size, options)
    return _open_csv(path, size, options)


def _mapped(names: list[str], options: ReadOptions) -> list[str]:
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    repeated = [n for n, c in seen.items() if c > 1]
    if repeated:
        raise FileRejected(f"duplicate column names in the header: {', '.join(map(repr, repeated))}")
    unused = set(options.mapping) - set(names)
    if unused:
        raise FileRejected(f"the mapping names columns the file does not have: {', '.join(sorted(map(repr, unused)))}")
    mapped = [options.mapping.get(n, n) for n in names]
    if len(set(mapped)) != len(mapped):
        raise FileRejected("the mapping gives two columns the same target name")
    return mapped


def _open_parquet(path: Path, size: int, options: ReadOptions) -> Source:
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # noqa: BLE001 - polars raises several error kinds for a bad file
        raise FileRejected(f"{path} is not a readable Parquet file: {_first_line(exc)}") from None
    names = list(schema)
    columns = _mapped(names, options)
    return Source(
        path, "parquet", size, columns, names, options, schema=dict(zip(columns, schema.values(), strict=False))
    )


def _open_csv(path: Path, size: int, options: ReadOptions) -> Source:
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    encoding = options.encoding
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
        if encoding == "cp1251":
            raise FileRejected(f"{path} starts with a UTF-8 byte order mark but --encoding cp1251 was given")
        encoding = "utf-8-sig"
    if encoding == "cp1251":
        text = head.decode("cp1251")
    else:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the sniff boundary
                raise _not_utf8(path, f"byte {exc.start}: 0x{head[exc.start]:02x}") from None
            text = head[: exc.start].decode("utf-8")
    if not text.strip():
        raise FileRejected(f"{path} holds no rows")
    delimiter = options.delimiter or _sniff_delimiter(text, options.quote_char)
    first = next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=options.quote_char), [])
    if options.has_header:
        names = [name.strip() for name in first]
        if any(not name for name in names):
            raise FileRejected(f"{path}: the header has an empty column name (position {names.index('') + 1})")
    else:
        names = [str(i + 1) for i in range(len(first))]
    columns = _mapped(names, options)
    source = Source(path, "csv", size, columns, names, options, delimiter=delimiter)
    if encoding == "cp1251":
        source._utf8_copy = _transcode(path)
    return source


def _sniff_delimiter(text: str, quote_char: str) -> str:
    """The delimiter that splits the first line into the most fields."""
    line = text.splitlines()[0] if text else ""
    counts = {d: len(next(csv.reader([line], delimiter=d, quotechar=quote_char), [])) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: (counts[d], d == ","))


def _transcode(path: Path) -> Path:
    """A UTF-8 copy of a cp1251 file, written in chunks (polars reads UTF-8 only)."""
    handle, name = tempfile.mkstemp(prefix="customers-import-", suffix=".csv")
    decoder = codecs.getincrementaldecoder("cp1251")()
    with os.fdopen(handle, "wb") as out, path.open("rb") as src:
        while chunk := src.read(1 << 22):
            out.write(decoder.decode(chunk).encode("utf-8"))
        out.write(decoder.decode(b"", final=True).encode("utf-8"))
    return Path(name)


def batches(source: Source) -> Iterator[pl.DataFrame]:
    """Stream the file in frames of at most `batch_size` rows."""
    if source.format == "parquet":
        yield from _parquet_batches(source)
    else:
        yield from _csv_batches(source)


def _parquet_batches(source: Source) -> Iterator[pl.DataFrame]:
    """Row slices of the file: polars reads only the row groups a slice covers, so memory
    follows the batch size, not the file (and the consumer's pace)."""
    lazy = pl.scan_parquet(source.path).rename(dict(zip(source.source_columns, source.columns, strict=False)))
    try:
        total = int(lazy.select(pl.len()).collect().item())
        size = source.options.batch_size
        for start in range(0, total, size):
            frame = lazy.slice(start, size).collect()
            yield frame.with_columns(
                pl.int_range(start + 1, start + 1 + frame.height, dtype=pl.Int64).alias(ROW)
            ).select(ROW, *source.columns)
    except pl.exceptions.PolarsError as exc:
        raise FileRejected(f"{source.path}: cannot read the Parquet data: {_first_line(exc)}") from None


def _csv_batches(source: Source) -> Iterator[pl.DataFrame]:
    """CSV rows as strings, read by polars `batch_size` lines at a time while every line of a
    batch is one row of the header's width; from the first batch where that fails on, the exact
    reader reads the rest of the file. Slicing the lines here keeps memory bounded by the batch
    whatever pace the database takes the rows at."""
    options = source.options
    path = source._utf8_copy or source.path
    row = 2 if options.has_header else 1
    with path.open("rb") as handle:
        if options.has_header:
            handle.readline()
        while True:
            offset = handle.tell()
            lines = list(itertools.islice(handle, options.batch_size))
            if not lines:
                return
            if row <= 2 and lines[0].startswith(codecs.BOM_UTF8):
                lines[0] = lines[0][len(codecs.BOM_UTF8) :]
            frame = _read_lines(source, b"".join(lines), len(lines), row)
            if frame is None:
                yield from _exact_batches(source, start=offset, first_row=row)
                return
            yield frame.with_columns(
                pl.int_range(row, row + frame.height, dtype=pl.Int64).alias(ROW), pl.lit(None, pl.Int32).alias(RAGGED)
            ).select(ROW, *source.columns, RAGGED)
            row += frame.height


def _read_lines(source: Source, data: bytes, lines: int, row: int) -> pl.DataFrame | None:
    """A batch of lines, each one row of the header's width, as a frame of strings; None when a
    line is not such a row (then only the exact reader can tell the rows apart). polars fails at
    a row with too many fields, joins the lines of a quoted field and skips a blank line (fewer
    rows than lines), and pads a row with too few fields silently: that one shows in the count of
    delimiters between cells, the batch's delimiters less those inside its cells, which must be
    the header's for every line."""
    options = source.options
    try:
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            new_columns=source.columns,
            separator=source.delimiter,
            quote_char=options.quote_char or None,
            infer_schema=False,
            empty_string_is_null=False,
            truncate_ragged_lines=False,
            raise_if_empty=False,
            encoding="utf8",
        )
    except pl.exceptions.PolarsError:
        # not UTF-8 (refused here, naming the row), a row with too many fields, a quote never
        # closed, ...: the exact reader tells what is wrong
        _check_utf8(source, data, row)
        return None
    if frame.height != lines:
        return None
    delimiter = source.delimiter
    between = data.count(delimiter.encode())
    if options.quote_char and options.quote_char.encode() in data:
        inside = frame.select(
            pl.sum_horizontal(pl.col(c).str.count_matches(delimiter, literal=True) for c in source.columns).sum()
        ).item()
        between -= int(inside)
    return frame if between == lines * (len(source.columns) - 1) else None


def _check_utf8(source: Source, data: bytes, row: int) -> None:
    """FileRejected naming the row when a batch of lines is not UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = row + data.count(b"\n", 0, exc.start)
        raise _not_utf8(source.path, f"row {at}, byte 0x{data[exc.start]:02x}") from None


def _not_utf8(path: Path, where: str) -> FileRejected:
    return FileRejected(
        f"{path} is not valid UTF-8 ({where}); Russian Excel exports are often cp1251: pass --encoding cp1251"
    )


def _exact_batches(source: Source, *, start: int = 0, first_row: int = 1) -> Iterator[pl.DataFrame]:
    """The slower exact reader (Python's csv module): every row, with its field count, so rows
    with too many or too few fields become rejects instead of stopping the file. From the
    beginning (header and byte order mark skipped), or from byte `start` (a line's start past
    the header) where row `first_row` begins."""
    options = source.options
    path = source._utf8_copy or source.path
    width = len(source.columns)
    rows: list[list[str]] = []
    numbers: list[int] = []
    ragged: list[int | None] = []
    csv.field_size_limit(1 << 30)
    with path.open("rb") as raw:
        raw.seek(start)
        handle = io.TextIOWrapper(raw, encoding="utf-8" if start else "utf-8-sig", newline="")
        reader = csv.reader(handle, delimiter=source.delimiter, quotechar=options.quote_char or None, strict=True)
        row_number = first_row - 1
        if options.has_header and not start:
            next(reader, None)
            row_number = 1
        try:
            for record in reader:
                row_number += 1
                if not record:
                    continue
                numbers.append(row_number)
                ragged.append(None if len(record) == width else len(record))
                rows.append((record + [""] * width)[:width])
                if len(rows) >= options.batch_size:
                    yield _frame(source.columns, rows, numbers, ragged)
                    rows, numbers, ragged = [], [], []
        except UnicodeDecodeError:
            raise _not_utf8(source.path, f"after row {row_number}") from None
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                raise FileRejected(
                    f"{source.path}: a quote opened in row {row_number + 1} is never closed; nothing was loaded"
                ) from None
            raise FileRejected(f"{source.path}: cannot parse the CSV at row {row_number + 1}: {exc}") from None
    if rows:
        yield _frame(source.columns, rows, numbers, ragged)


def _frame(columns: list[str], rows: list[list[str]], numbers: list[int], ragged: list[int | None]) -> pl.DataFrame:
    data = {name: [row[i] for row in rows] for i, name in enumerate(columns)}
    frame = pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String))
    return frame.with_columns(
        pl.Series(ROW, numbers, dtype=pl.Int64), pl.Series(RAGGED, ragged, dtype=pl.Int32)
    ).select(ROW, *columns, RAGGED)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
