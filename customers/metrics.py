"""Prometheus metrics of every area, defined in one place so that the service, the importer and
the jobs count into the same registry.

With several uvicorn workers the service sets `PROMETHEUS_MULTIPROC_DIR` before the workers
start (see `customers serve`); prometheus-client then keeps the values in files there and
`/metrics` merges every worker's values. Without it, values live in the process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from bisect import bisect_left
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Request latency buckets: point lookups sit at 1-10 ms, anything past 1 s is an incident.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

# --- HTTP (counted by service.middleware) -------------------------------------------------------
HTTP_REQUESTS = Counter(
    "customers_http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ("method", "route", "status"),
)
HTTP_LATENCY = Histogram(
    "customers_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by method and route template.",
    ("method", "route"),
    buckets=_LATENCY_BUCKETS,
)
HTTP_REFUSED = Counter(
    "customers_http_requests_refused_total",
    "Requests refused before reaching a route: body_too_large (413), too_deep (422), bad_json (422), "
    "nul_text (422: a NUL character in a parameter or the body).",
    ("reason",),
)

# --- search index (counted by the search area) ---------------------------------------------------
SEARCH_INDEX_WRITE_FAILURES = Counter(
    "customers_search_index_write_failures_total",
    "Committed customer writes whose copy to the search index failed (repaired by a rebuild).",
    ("operation",),
)

# --- bulk import (counted by etl) --------------------------------------------------------------
IMPORT_ROWS = Counter(
    "customers_import_rows_total",
    "Input rows of bulk imports, by outcome: loaded, rejected, duplicate.",
    ("outcome",),
)

# --- scheduled jobs (counted by jobs) ----------------------------------------------------------
JOB_RUNS = Counter(
    "customers_job_runs_total",
    "Scheduled job runs, by job name and outcome: succeeded, failed, interrupted, skipped.",
    ("job", "outcome"),
)
JOB_DURATION = Histogram(
    "customers_job_duration_seconds",
    "Wall time of scheduled job runs, by job name.",
    ("job",),
    buckets=_JOB_BUCKETS,
)


class HttpRecorder:
    """Counts requests and their latency into HTTP_REQUESTS and HTTP_LATENCY.

    With several workers every increment of a metric is a locked write to a memory-mapped file,
    three per request: a visible share of a lookup's cost (docs/operations.md). There the recorder
    adds up in memory and writes the sums every `batch_seconds` instead, so /metrics lags by at
    most that much. In a single process it writes through.
    """

    def __init__(self, batch_seconds: float | None) -> None:
        self.batch_seconds = batch_seconds
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}
        self._counts: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], tuple[list[float], list[int]]] = {}
        self._flush_due = False

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request."""
        key = (method, route, str(status))
        if self.batch_seconds is None:
            self._counter(key).inc()
            self._histogram(key[:2]).observe(seconds)
            return
        self._counts[key] = self._counts.get(key, 0) + 1
        entry = self._latency.get(key[:2])
        if entry is None:
            entry = self._latency[key[:2]] = ([0.0], [0] * len(self._histogram(key[:2])._upper_bounds))
        entry[0][0] += seconds
        entry[1][bisect_left(self._histogram(key[:2])._upper_bounds, seconds)] += 1
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_later(self.batch_seconds, self.flush)

    def flush(self) -> None:
        """Write what was added up since the last flush."""
        self._flush_due = False
        counts, self._counts = self._counts, {}
        latency, self._latency = self._latency, {}
        for key, count in counts.items():
            self._counter(key).inc(count)
        for route_key, (total, buckets) in latency.items():
            histogram = self._histogram(route_key)
            # the same values Histogram.observe writes (the sum and the one bucket each falls
            # in), added up: prometheus-client has no public call for a batch
            histogram._sum.inc(total[0])
            for index, count in enumerate(buckets):
                if count:
                    histogram._buckets[index].inc(count)

    def _counter(self, key: tuple[str, str, str]) -> Any:
        child = self._counters.get(key)
        if child is None:
            child = self._counters[key] = HTTP_REQUESTS.labels(*key)
        return child

    def _histogram(self, key: tuple[str, str]) -> Any:
        child = self._histograms.get(key)
        if child is None:
            child = self._histograms[key] = HTTP_LATENCY.labels(*key)
        return child


def multiprocess_dir() -> Path | None:
    """The directory shared by the workers' metric files, when running several workers."""
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess(directory: Path) -> None:
    """Empty `directory` and point prometheus-client at it; call before starting the workers,
    so that values of an earlier run are not merged into this one."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (merged across workers) and its content type."""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
