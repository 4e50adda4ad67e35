"""Search over customers: a RediSearch index derived from the questionnaire, `find` with
filters (served by PostgreSQL when search is off or Redis cannot answer), zero-downtime chunked
rebuilds and index administration. The public API, documented in docs/search.md:

    find(conn, questionnaire, FindRequest, settings=..., runtime=...) -> FindResult   (async)
    init_index(settings, load_docs=False, progress=None) -> int | None
    flush_index(settings) -> int
    migrate_index(settings, progress=None) -> MigrateResult
    index_status(settings) -> dict
    reindex_ids(settings, ids) -> int
    reindex_since(settings, since) -> int
    check_consistency(settings, sample=200, repair=False) -> ConsistencyReport
    repair_consistency(settings, sample=200) -> ConsistencyReport
"""

from __future__ import annotations

from customers.search.bulk import RebuildProgress, SearchIndexError
from customers.search.client import SearchDisabled, SearchUnavailable, require_enabled
from customers.search.consistency import ConsistencyReport, check_consistency, repair_consistency
from customers.search.find import FindResult, find
from customers.search.lifecycle import MigrateResult, flush_index, index_status, init_index, migrate_index
from customers.search.reindex import reindex_ids, reindex_since
from customers.search.request import Filter, FindRequest
from customers.search.runs import SearchBusy
from customers.search.runtime import SearchRuntime
from customers.search.session import load_questionnaire
from customers.search.sync import IndexWriter

__all__ = [
    "ConsistencyReport",
    "Filter",
    "FindRequest",
    "FindResult",
    "IndexWriter",
    "MigrateResult",
    "RebuildProgress",
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
