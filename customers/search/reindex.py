"""Re-indexing chosen customers outside a rebuild: after a bulk import, a job, or a repair. Their
documents are written into every index a write goes to (the current one and the one being
built); customers that no longer exist lose theirs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from customers.config import Settings
from customers.search.bulk import send_commands, write_all
from customers.search.session import Session, open_session
from customers.search.state import IndexState


def reindex_ids(settings: Settings, ids: Iterable[int]) -> int:
    """Write these customers' documents again (removing those that no longer exist); return
    how many documents were written."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return 0
    with open_session(settings) as s:
        return reindex(s, wanted)


def reindex(s: Session, wanted: list[int]) -> int:
    """`reindex_ids` within an open session; `wanted` sorted and distinct."""
    indexes = s.targets()
    if not indexes:
        return 0
    written = 0
    for index in indexes:
        schema = s.schema_of(index)
        if schema is None:
            continue
        written = write_all(s, [index], schema, "id = ANY(%(ids)s)", {"ids": wanted}, fresh=False)
        found = {r[0] for r in s.conn.execute("SELECT id FROM customers WHERE id = ANY(%s)", (wanted,))}
        gone = [i for i in wanted if i not in found]
        send_commands(s, [s.dialect.delete(index, IndexState.doc_key(index, i)) for i in gone])
    return written


def reindex_since(settings: Settings, since: dt.datetime) -> int:
    """Write the documents of every customer changed (updated_at) at or after `since`, e.g.
    after a bulk import commits; return how many were written."""
    with open_session(settings) as s:
        written = 0
        for index in s.targets():
            schema = s.schema_of(index)
            if schema is not None:
                written = write_all(s, [index], schema, "updated_at >= %(since)s", {"since": since}, fresh=False)
        return written
