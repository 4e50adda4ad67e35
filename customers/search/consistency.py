"""The index against PostgreSQL: counts, every id, and a sample compared field by field; drift
repaired on request."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from customers.config import Settings
from customers.search.reindex import reindex
from customers.search.schema import SEP
from customers.search.session import Session, open_session
from customers.search.state import IndexState


@dataclass
class ConsistencyReport:
    """Counts on both sides, a sample compared field by field, and what was repaired."""

    index: str | None
    customers: int
    documents: int | None
    sampled: int
    drifted: list[int] = field(default_factory=list)  # document differs from the database
    missing: list[int] = field(default_factory=list)  # customer without a document
    stale: list[int] = field(default_factory=list)  # document without a customer
    repaired: int = 0

    @property
    def consistent(self) -> bool:
        return self.customers == self.documents and not (self.drifted or self.missing or self.stale)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "consistent": self.consistent}


def check_consistency(settings: Settings, *, sample: int = 200, repair: bool = False) -> ConsistencyReport:
    """Compare the index with PostgreSQL: counts, every id (a SCAN of the index's keys), and
    `sample` random customers field by field. With `repair`, drifted and missing customers are
    re-indexed and stale documents removed."""
    with open_session(settings) as s:
        index = s.current()
        customers = s.count_customers()
        if index is None:
            return ConsistencyReport(None, customers, None, 0)
        schema = s.schema_of(index)
        documents = s.num_docs(index)
        report = ConsistencyReport(index, customers, documents, 0)
        if schema is None:
            return report
        rows = s.conn.execute(
            schema.documents_sql("id IN (SELECT id FROM customers ORDER BY random() LIMIT %(n)s)"), {"n": sample}
        ).fetchall()
        report.sampled = len(rows)
        pipe = s.redis.pipeline(transaction=False)
        for row in rows:
            pipe.hgetall(IndexState.doc_key(index, row[0]))
        stored = pipe.execute()
        names = schema.document_columns()
        for row, doc in zip(rows, stored, strict=False):
            expected = {n: v for n, v in zip(names, row[1:], strict=False) if v is not None}
            if not doc:
                report.missing.append(row[0])
            elif not _same(expected, doc):
                report.drifted.append(row[0])
        # equal counts can hide a missing and a stale document: compare the ids themselves
        indexed = _indexed_ids(s, index)
        in_db = {r[0] for r in s.conn.execute("SELECT id FROM customers")}
        report.missing = sorted(set(report.missing) | (in_db - indexed))
        report.stale = sorted(indexed - in_db)
        if repair and (report.drifted or report.missing or report.stale):
            report.repaired = reindex(s, sorted(set(report.drifted) | set(report.missing) | set(report.stale)))
        return report


def _same(expected: dict[str, Any], doc: dict[str, str]) -> bool:
    if set(expected) != set(doc):
        return False
    for name, value in expected.items():
        if isinstance(value, (int, float)):
            try:
                if float(doc[name]) != float(value):
                    return False
            except ValueError:
                return False
        elif str(value) != doc[name] and sorted(str(value).split(SEP)) != sorted(doc[name].split(SEP)):
            return False  # tag lists: the order of elements does not matter
    return True


def _indexed_ids(s: Session, index: str) -> set[int]:
    """Ids of every document of the index (a SCAN over its own key prefix)."""
    prefix = IndexState.doc_prefix(index)
    ids: set[int] = set()
    for key in s.redis.scan_iter(match=f"{prefix}*", count=10_000):
        tail = key[len(prefix) :]
        if tail.isdigit():
            ids.add(int(tail))
    return ids


def repair_consistency(settings: Settings, *, sample: int = 200) -> ConsistencyReport:
    """`check_consistency` that also re-indexes drifted and missing customers and removes
    stale documents."""
    return check_consistency(settings, sample=sample, repair=True)
