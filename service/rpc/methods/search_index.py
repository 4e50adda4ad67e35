"""`Customers.search.idx.*`: search index administration.

The search module's synchronous functions, run in a thread. A call cut short by the Timeout
header is answered at once, but the work already started in Redis runs to its end (a rebuild is
safe to interrupt only between its own steps).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import StrictBool

from customers import search
from service.rpc.registry import Call, MethodTable

search_index_methods = MethodTable()


@search_index_methods.method("Customers.search.idx.init", "admin")
async def search_idx_init(call: Call, load_docs: StrictBool = False) -> Any:
    """Create the index if there is none: documents loaded, or null when it existed."""
    search.require_enabled(call.settings)
    return await asyncio.to_thread(search.init_index, call.settings, load_docs=load_docs)


@search_index_methods.method("Customers.search.idx.flush", "admin")
async def search_idx_flush(call: Call) -> None:
    """Drop the index with all its documents: null."""
    search.require_enabled(call.settings)
    await asyncio.to_thread(search.flush_index, call.settings)


@search_index_methods.method("Customers.search.idx.migrate", "admin")
async def search_idx_migrate(call: Call, load_docs: StrictBool = True) -> Any:
    """Rebuild the index from the questionnaire in force and switch to it: documents loaded.

    `load_docs` is accepted as the original's clients send it (their default is false) and has
    no effect: a new index version is always loaded with every customer."""
    del load_docs
    search.require_enabled(call.settings)
    result = await asyncio.to_thread(search.migrate_index, call.settings)
    return result.documents
