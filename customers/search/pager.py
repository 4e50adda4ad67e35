"""One page of a sorted find over RediSearch, exactly in PostgreSQL's order, with its total.

A page is ordered as PostgreSQL orders it: by the sort value, then by id. RediSearch sorts by one
value only and orders equal values its own way (1.2: arbitrarily; 2.x: by internal document
number, which changes when a document is rewritten), so runs of equal values are put in id order
here: seen whole in a window around the page, or read by a query of their own (see
`IndexPager._in_order`). Deep pages over numeric keys sort only a counted range of the sort value
around the page (see `IndexPager._narrowed`). docs/search.md explains both and has the figures.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from customers.db import AsyncConn
from customers.search.client import Dialect, pairs
from customers.search.pg import sample_sort_values
from customers.search.plan import QueryPlan
from customers.search.redis_query import escape_tag, query_string
from customers.search.runtime import DEFAULT_QUERY_TIMEOUT

# below this many matches the server's own sort costs about as much as narrowing (docs/search.md)
NARROW_MIN = 100_000
# a filtered query must be counted before it can be narrowed (unsorted, about as costly as the
# sorted query itself): that pays only when the server's sort keeps many positions (a deep page)
NARROW_FILTERED_DEPTH = 1_000
VERIFY_SHARE = 0.9  # a sorted query that took this share of the server's timeout may have hit it
SAMPLE_PAGES = 200  # table pages of the PostgreSQL sample that estimates a range
BOUNDARIES = 8  # sample values inside a range whose positions are counted
TEXT_GROUP_MAX = 5_000  # equal text sort values beyond this are ordered by PostgreSQL
WINDOW_MARGIN = 256  # positions read either side of a page
TOTAL_SLACK = 10  # matches a sorted query may miss against the count through writes meanwhile


class IndexCannotAnswer(Exception):
    """The index cannot answer this query correctly; PostgreSQL will."""


class _Changed(IndexCannotAnswer):
    """Documents changed between the queries reading one page (writes meanwhile)."""

    def __init__(self) -> None:
        super().__init__("the index changed while the page was read")


Entry = tuple[int, str]  # (customer id, the sort key as the server returns it: `#num` / `$text`)


class IndexPager:
    """One page of ids over RediSearch, exactly in PostgreSQL's order, with the total."""

    def __init__(
        self,
        client: Any,
        dialect: Dialect,
        target: str,
        prefix: str,
        plan: QueryPlan,
        conn: AsyncConn,
        timings: dict[str, float],
        timeout: float | None = DEFAULT_QUERY_TIMEOUT,
    ) -> None:
        self.client = client
        # seconds; a sorted query that took this long has its total checked (None: never)
        self.verify_after = float("inf") if timeout is None else timeout * VERIFY_SHARE
        self.dialect = dialect
        self.target = target
        self.prefix = prefix
        self.plan = plan
        self.conn = conn
        self.timings = timings
        self.query = query_string(plan)
        self.attr = plan.sort.attr
        self.numeric = plan.sort.kind == "numeric"

    async def _call(self, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self.client.execute_command(*args)
        finally:
            add_timing(self.timings, "redis", started)

    async def count(self, query: str) -> int:
        """Matching documents, unsorted (LIMIT x 0 is refused by 1.2: a page of one)."""
        reply = await self._call("FT.SEARCH", self.target, query, "NOCONTENT", "LIMIT", 0, 1)
        return int(reply[0])

    async def sorted_window(
        self, query: str, start: int, size: int, attr: str | None = None, desc: bool | None = None
    ) -> tuple[int, list[Entry]]:
        """(matches, entries at sorted positions start..start+size-1 with their sort keys)."""
        attr = attr or self.attr
        desc = self.plan.desc if desc is None else desc
        reply = await self._call(
            "FT.SEARCH",
            self.target,
            query,
            "NOCONTENT",
            "LIMIT",
            start,
            max(size, 1),
            "SORTBY",
            attr,
            "DESC" if desc else "ASC",
            "WITHSORTKEYS",
        )
        total = int(reply[0])
        n = len(self.prefix)
        entries = [(int(reply[i][n:]), reply[i + 1]) for i in range(1, len(reply) - 1, 2)][:size]
        if any(key is None for _, key in entries):
            raise IndexCannotAnswer(f"a document of the index has no value for {attr!r}")
        expected = max(0, min(start + size, total) - start)
        if len(entries) < expected:
            # RediSearch 1.2 answers a timed-out query with a partial, misordered page
            raise IndexCannotAnswer(
                f"the index returned a partial page ({len(entries)} of {expected}): query timed out"
            )
        return total, entries

    def _and(self, extra: str, query: str | None = None) -> str:
        query = self.query if query is None else query
        return extra if query == "*" else f"{query} {extra}"

    async def page(self) -> tuple[int, list[int]]:
        """(total, ids of the page in order); read again once if writes got in between."""
        try:
            return await self._page()
        except _Changed:
            return await self._page()

    async def _page(self) -> tuple[int, list[int]]:
        plan = self.plan
        o, n = plan.offset, plan.limit
        if n == 0:
            return await self.count(self.query), []
        # positions either side of the page show runs of equal values whole, mostly: ordered by
        # id here, without further queries (ids are unique: no margin). Strings have no ranges
        # to count a run's start with: their window starts at the first match (the server's
        # sort costs the same; only the reply grows)
        margin = 0 if plan.sort.key == "id" else WINDOW_MARGIN
        start = max(0, o - margin) if self.numeric else 0
        size = o + n + margin - start
        counted, window = await self._narrowed(start, size, o + n)
        if window is None:
            started = time.perf_counter()
            matched, entries = await self.sorted_window(self.query, start, size)
            if counted is None and time.perf_counter() - started >= self.verify_after:
                # only a query that ran as long as the server's timeout can have hit it (the
                # server's time is within ours): its total is then checked against a count (the
                # index's document count for a match-all query)
                if self.query == "*":
                    counted = self.dialect.num_docs(pairs(await self._call("FT.INFO", self.target)))
                else:
                    counted = await self.count(self.query)
            if counted is not None and matched < counted - max(TOTAL_SLACK, counted // 1000):
                # a sort over many matches timed out (RediSearch answers what it had then);
                # writes meanwhile make a few matches of difference, a timeout many more
                raise IndexCannotAnswer(f"the sorted query saw {matched} of {counted} matches: query timed out")
            total = matched
        else:
            assert counted is not None  # narrowing counts the matches before it reads a window
            total = counted
            matched, entries = window
        first = o - start
        if first >= len(entries):
            return total, []
        if margin == 0:
            return total, [i for i, _ in entries[first : first + n]]
        return total, await self._in_order(matched, start, entries, o, min(n, len(entries) - first))

    async def _in_order(self, matched: int, start: int, entries: list[Entry], o: int, n: int) -> list[int]:
        """The page's ids: runs of equal sort values seen whole are put in id order here; a run
        cut by the window's edge is read from the index in id order."""
        end = start + len(entries)  # positions start..end-1 are known
        result: list[int] = []
        pos = o
        while pos < o + n:
            key = entries[pos - start][1]
            lo = pos
            while lo > start and entries[lo - 1 - start][1] == key:
                lo -= 1
            hi = pos + 1
            while hi < end and entries[hi - start][1] == key:
                hi += 1
            take = min(hi, o + n) - pos  # page positions this run fills
            start_seen = lo > start or start == 0
            end_seen = hi < end or end >= matched
            if start_seen and end_seen:
                run = sorted(i for i, _ in entries[lo - start : hi - start])
                result += run[pos - lo : pos - lo + take]
            else:
                if start_seen:
                    first = lo
                elif end_seen and (same := self._same(key)) is not None:
                    first = hi - await self.count(self._and(same))  # the run's end is known
                else:
                    first = await self._run_start(key)  # numeric: string windows start at 0
                result += await self._run_ids(key, first, pos - first, take)
            pos += take
        return result

    async def _run_start(self, key: str) -> int:
        """Sorted position of the first match whose (numeric) sort value is `key`."""
        value = _plain(key)
        before = f"@{self.attr}:[({value} +inf]" if self.plan.desc else f"@{self.attr}:[-inf ({value}]"
        return await self.count(self._and(before))

    async def _run_ids(self, key: str, run_start: int, rank: int, take: int) -> list[int]:
        """Ids `rank`..`rank+take-1`, in id order, of the matches whose sort value is `key`."""
        if rank < 0:
            raise _Changed()
        same = self._same(key)
        if same is None:
            return await self._text_run_ids(key, run_start, rank, take)
        _, entries = await self.sorted_window(self._and(same), rank, take, attr="id", desc=False)
        if len(entries) < take:
            raise _Changed()
        return [i for i, _ in entries]

    def _same(self, key: str) -> str | None:
        """The condition "the sort value is `key`"; None for text, which a query cannot match whole."""
        if self.numeric:
            value = _plain(key)
            return f"@{self.attr}:[{value} {value}]"
        if self.plan.sort.kind == "tag":
            return f"@{self.attr}:{{{escape_tag(key[1:])}}}"
        return None

    async def _text_run_ids(self, key: str, run_start: int, rank: int, take: int) -> list[int]:
        # a text value cannot be matched whole by a query: read the run's sorted positions
        size = take + rank + 1
        while True:
            size = min(size * 4, TEXT_GROUP_MAX + 1)
            matched, entries = await self.sorted_window(self.query, run_start, size)
            run = [i for i, k in entries if k == key]
            if len(run) < len(entries) or run_start + len(entries) >= matched:
                return sorted(run)[rank : rank + take]
            if size > TEXT_GROUP_MAX:
                raise IndexCannotAnswer(f"more than {TEXT_GROUP_MAX} customers share the text sort value")

    async def _narrowed(self, start: int, size: int, need: int) -> tuple[int | None, tuple[int, list[Entry]] | None]:
        """(total, window) where the window — sorted positions `start`..`start+size-1`, and the
        position just past the last match read — comes from the query restricted to a range
        of the sort value around those positions: the server then sorts a few hundred matches
        instead of all of them (its sort costs grow with the matches and the page's depth).
        (total or None, None) when narrowing does not pay (few matches, a page near the end,
        strings, which have no ranges) or the estimate missed.

        A PostgreSQL sample of the sort values proposes boundaries; the matches between them
        are counted (counting is several times cheaper than sorting), so every boundary's
        exact position is known; the range is cut at boundaries, so it holds whole runs of
        equal values and its positions are the positions in the whole order."""
        if not self.numeric:
            return None, None
        if self.query == "*":
            # the index's document count is exact and cheaper than counting; asked while
            # PostgreSQL draws the sample
            documents = asyncio.ensure_future(self.client.execute_command("FT.INFO", self.target))
            try:
                window = await self._range_window(start, size, need, None)
            except BaseException:
                documents.cancel()
                raise
            started = time.perf_counter()  # timed from here only: the time before overlaps the rest
            info = await documents
            add_timing(self.timings, "redis", started)
            return self.dialect.num_docs(pairs(info)), window
        if need <= NARROW_FILTERED_DEPTH:
            return None, None
        total = await self.count(self.query)
        if total < NARROW_MIN or need * 2 > total:
            return total, None
        return total, await self._range_window(start, size, need, total)

    async def _range_window(
        self, start: int, size: int, need: int, total: int | None
    ) -> tuple[int, list[Entry]] | None:
        """See `_narrowed`; `total`: the matches, when known (else the sample estimates them)."""
        sample, fraction = await self._sample()
        estimate = total or (len(sample) / fraction if fraction > 0 else 0)
        scale = len(sample) / estimate if estimate else 0
        low = int(start * scale * 0.7) - 2
        high = int((start + size) * scale * 1.5) + 4
        if estimate < NARROW_MIN or need * 2 > estimate or high >= len(sample):
            return None
        for _ in range(3):
            bounds, marks, end = await self._marks(sample[max(low, 0) : high + 1])
            if end >= need:
                break
            if high == len(sample) - 1:
                return None
            high = min(high * 2 + 4, len(sample) - 1)  # the sample put the end too early (rare): widen
        else:
            return None
        i = max(k for k, (_, at) in enumerate(marks) if at <= start)
        j = next((k for k in range(i + 1, len(marks)) if marks[k][1] >= start + size), None)
        first, first_at = marks[i]
        if j is None:
            cut, last_at = self._range(first, None, bounds[-1]), end
        else:
            cut, last_at = self._range(first, marks[j][0], None), marks[j][1]
        matched, entries = await self.sorted_window(self._and(cut), start - first_at, size)
        if matched != last_at - first_at:
            raise _Changed()
        return last_at, entries

    async def _marks(self, values: list[float]) -> tuple[list[float], list[tuple[float | None, int]], int]:
        """(boundaries, [(boundary, sorted position of its first match)], the position past the
        matches at the last boundary): the distinct `values` (in sort order) thinned out, and
        the matches before the first, between consecutive ones and at the last one counted
        at once. The first mark, (None, 0), is the very first match."""
        distinct = list(dict.fromkeys(values))
        step = max(1, (len(distinct) - 1) // BOUNDARIES)
        bounds = distinct[:-1][::step] + distinct[-1:]
        ranges = [self._range(None, bounds[0], None)]
        ranges += [self._range(bounds[k], bounds[k + 1], None) for k in range(len(bounds) - 1)]
        ranges.append(self._range(bounds[-1], None, bounds[-1]))
        counts = await self._counts([self._and(r) for r in ranges])
        marks: list[tuple[float | None, int]] = [(None, 0)]
        position = 0
        for value, counted in zip(bounds, counts, strict=False):
            position += counted
            marks.append((value, position))
        return bounds, marks, position + counts[-1]

    async def _counts(self, queries: list[str]) -> list[int]:
        """Counts of several queries, sent at once (RediSearch 1.2 runs them on its worker
        threads); timed as one."""
        started = time.perf_counter()
        try:
            replies = await asyncio.gather(
                *(self.client.execute_command("FT.SEARCH", self.target, q, "NOCONTENT", "LIMIT", 0, 1) for q in queries)
            )
            return [int(reply[0]) for reply in replies]
        finally:
            add_timing(self.timings, "redis", started)

    def _range(self, lo: float | None, below: float | None, upto: float | None) -> str:
        """Matches from `lo` (inclusive; None: from the first) up to `below` (exclusive) or
        `upto` (inclusive), in sort order."""
        desc = self.plan.desc
        first = ("+inf" if desc else "-inf") if lo is None else _plain(f"#{lo!r}")
        if below is not None:
            last = "(" + _plain(f"#{below!r}")
        else:
            assert upto is not None
            last = _plain(f"#{upto!r}")
        return f"@{self.attr}:[{last} {first}]" if desc else f"@{self.attr}:[{first} {last}]"

    async def _sample(self) -> tuple[list[float], float]:
        started = time.perf_counter()
        try:
            return await sample_sort_values(self.conn, self.plan, SAMPLE_PAGES, NARROW_MIN)
        finally:
            add_timing(self.timings, "database", started)


def _plain(key: str) -> str:
    """A numeric sort key (`#1e+18`, 17 significant digits) as a query number: the query parser
    takes no exponent notation; the shortest round-tripping decimal is exactly the same double."""
    number = float(key[1:] if key.startswith("#") else key)
    return format(Decimal(repr(number)), "f")


def add_timing(timings: dict[str, float], name: str, started: float) -> None:
    """Add the milliseconds since `started` (a `perf_counter`) to `timings[name]`."""
    timings[name] = timings.get(name, 0.0) + (time.perf_counter() - started) * 1000
