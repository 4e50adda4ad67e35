"""Database maintenance jobs."""

from __future__ import annotations

from typing import Any

from customers.db import AsyncConn

CUSTOMERS_BRIN_INDEX = "idx_customers_id"


async def brin_summarize(conn: AsyncConn, index: str = CUSTOMERS_BRIN_INDEX) -> dict[str, Any]:
    """Summarise the page ranges of a BRIN index added since the last summarisation."""
    cur = await conn.execute("SELECT brin_summarize_new_values(%s::regclass)", (index,))
    row = await cur.fetchone()
    cur = await conn.execute(
        "SELECT pg_relation_size(indrelid), pg_relation_size(indexrelid) FROM pg_index WHERE indexrelid = %s::regclass",
        (index,),
    )
    sizes = await cur.fetchone()
    assert row is not None and sizes is not None
    return {"index": index, "ranges_summarized": int(row[0]), "table_bytes": sizes[0], "index_bytes": sizes[1]}
