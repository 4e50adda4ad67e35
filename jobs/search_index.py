"""Search index upkeep: the nightly chunked rebuild and the hourly consistency check with repair.

Both call the search layer's synchronous administration API (`customers.search`), in a worker
thread so that the run's event loop stays free to record progress. Stopping such a run marks it
interrupted at once; the rebuild itself is built to be stopped half-way (the old index keeps
serving and the next rebuild starts afresh).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from customers import search
from customers.config import Settings

CONSISTENCY_SAMPLE = 200
# ids listed in a run's result; the counts are always complete
EXAMPLES = 20


async def migrate(settings: Settings, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Rebuild the search index from the questionnaire in force, in chunks, then switch to it."""
    result = await asyncio.to_thread(search.migrate_index, settings, progress=progress)
    return result.to_dict()


async def consistency(settings: Settings, sample: int = CONSISTENCY_SAMPLE) -> dict[str, Any]:
    """Compare the index with PostgreSQL (counts, ids, and `sample` customers field by field),
    re-index the customers that drifted or are missing and remove stale documents."""
    report = await asyncio.to_thread(search.check_consistency, settings, sample=sample, repair=True)
    result: dict[str, Any] = {
        "index": report.index,
        "customers": report.customers,
        "documents": report.documents,
        "sampled": report.sampled,
        "drifted": len(report.drifted),
        "missing": len(report.missing),
        "stale": len(report.stale),
        "repaired": report.repaired,
        "consistent_before": report.consistent,
        "examples": {
            "drifted": report.drifted[:EXAMPLES],
            "missing": report.missing[:EXAMPLES],
            "stale": report.stale[:EXAMPLES],
        },
    }
    if report.index is None:
        result["note"] = "no search index yet (customers search init)"
    if report.repaired:
        after = await asyncio.to_thread(search.check_consistency, settings, sample=sample, repair=False)
        result["consistent_after"] = after.consistent
    return result
