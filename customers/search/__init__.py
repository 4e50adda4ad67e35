"""Search over customers: a RediSearch index derived from the questionnaire, `find` with
filters (served by PostgreSQL when search is off or Redis cannot answer), zero-downtime chunked
rebuilds and index administration. The public API, documented in docs/search.md:

    find(conn, questionnaire, FindRequest, settings=..., runtime=...) -> FindResult   (async)
    init_index(settings, load_docs=False, progress=None) -> int | None
    flush_index(settings) -> int
    migrate_index(settings, load_docs=True, progress=None) -> MigrateResult
    index_status(settings) -> dict
    reindex_ids(settings, ids) -> int
    reindex_since(settings, since) -> int
    check_consistency(settings, sample=200, repair=False) -> ConsistencyReport
    repair_consistency(settings, sample=200) -> ConsistencyReport
"""

from __future__ import annotations

from customers.config import Settings
from customers.search.admin import (
    ConsistencyReport,
    MigrateResult,
    Progress,
    SearchBusy,
    SearchIndexError,
    check_consistency,
    flush_index,
    index_status,
    init_index,
    load_questionnaire,
    migrate_index,
    reindex_ids,
    reindex_since,
)
from customers.search.client import SearchDisabled, SearchUnavailable, require_enabled
from customers.search.find import FindResult, find
from customers.search.query import Filter, FindRequest
from customers.search.runtime import SearchRuntime
from customers.search.sync import IndexWriter


def repair_consistency(settings: Settings, *, sample: int = 200) -> ConsistencyReport:
    """`check_consistency` that also re-indexes drifted and missing customers and removes
    stale documents."""
    return check_consistency(settings, sample=sample, repair=True)


__all__ = [
    "ConsistencyReport",
    "Filter",
    "FindRequest",
    "FindResult",
    "IndexWriter",
    "MigrateResult",
    "Progress",
    "SearchBusy",
    "SearchDisabled",
    "SearchIndexError",
    "SearchRuntime",
    "SearchUnavailable",
    "check_consistency",
    "find",
    "flush_index",
    "index_status",
    "init_index",
    "load_questionnaire",
    "migrate_index",
    "reindex_ids",
    "reindex_since",
    "repair_consistency",
    "require_enabled",
]
