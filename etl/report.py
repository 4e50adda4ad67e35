"""Stage 4, report: account for every row read, write the rejects file, render the outcome.

`read = inserted + updated + unchanged + rejected + duplicates`, always.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from etl.rejects import REJECT_SCHEMA

SAMPLE_SIZE = 10


@dataclass
class Counts:
    """Rows by outcome."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0

    @property
    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.read == self.inserted + self.updated + self.unchanged + self.rejected + self.duplicates


@dataclass
class Report:
    """The outcome of one file's import: printed, returned as JSON and stored with the run."""

    file: str
    format: str
    mode: str
    dry_run: bool
    run_id: int | None = None
    status: str = "running"
    size: int = 0
    checksum: str | None = None
    counts: Counts = field(default_factory=Counts)
    rejects_file: str | None = None
    rejects_by_code: dict[str, int] = field(default_factory=dict)
    rejects_sample: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    questionnaire_version: int = 0
    started_at: dt.datetime | None = None
    committed_at: dt.datetime | None = None
    # rows written by this run carry updated_at >= changed_since (the transaction's time): the
    # search index catches up by re-indexing customers changed since then
    changed_since: dt.datetime | None = None
    first_inserted_id: int | None = None
    last_inserted_id: int | None = None
    touched: int = 0
    seconds: float = 0.0
    # where the time went: read+validate+COPY (overlapped), the merge steps, the commit
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    # after the commit, with search on: customers re-indexed, or why the index was not updated
    search_indexed: int | None = None
    search_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO strings)."""
        data = asdict(self)
        for key in ("started_at", "committed_at", "changed_since"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        data["rows_per_second"] = round(self.counts.read / self.seconds) if self.seconds > 0 else None
        return data

    def lines(self) -> list[str]:
        """Human summary, one fact a line."""
        c = self.counts
        verb = "would load" if self.dry_run else "loaded"
        out = [
            f"{self.file}: {self.status} ({verb} in {self.seconds:.1f} s, run {self.run_id})",
            f"  read {c.read}: inserted {c.inserted}, updated {c.updated}, unchanged {c.unchanged}, "
            f"rejected {c.rejected}, duplicates {c.duplicates}",
        ]
        if self.rejects_by_code:
            out.append("  rejects by code: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rejects_by_code.items())))
        if self.rejects_file:
            out.append(f"  rejects written to {self.rejects_file}")
        for item in self.rejects_sample[:5]:
            out.append(f"  row {item['row']}, {item['column']}: {item['code']} ({item['message']})")
        if self.ignored_columns:
            out.append("  ignored columns: " + ", ".join(self.ignored_columns))
        if self.search_indexed is not None:
            out.append(f"  search index: {self.search_indexed} customers written")
        if self.search_error:
            out.append(f"  search index NOT updated ({self.search_error}); run `customers search migrate`")
        if self.error:
            out.append(f"  error: {self.error}")
        return out


def summarise_rejects(report: Report, rejects: pl.DataFrame, duplicate_rows: int) -> None:
    """Fill the reject counts of `report` from the frame of every reject entry."""
    report.counts.duplicates = duplicate_rows
    rejected = rejects.filter(pl.col("code") != "DUPLICATE_PHONE") if duplicate_rows else rejects
    report.counts.rejected = rejected.get_column("row").n_unique() if rejected.height else 0
    by_code = rejects.group_by("code").agg(pl.col("row").n_unique().alias("n")).sort("code")
    report.rejects_by_code = dict(
        zip(by_code.get_column("code").to_list(), by_code.get_column("n").to_list(), strict=False)
    )
    report.rejects_sample = rejects.sort("row").head(SAMPLE_SIZE).to_dicts()


def write_rejects(path: Path, rejects: pl.DataFrame) -> None:
    """The rejects file: one line per problem (row, column, code, raw value, message), CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rejects.select(list(REJECT_SCHEMA)).sort("row", maintain_order=True).write_csv(path)
