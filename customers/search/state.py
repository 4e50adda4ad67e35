"""Names the search index owns in Redis: index names, document key prefixes, state keys."""

from __future__ import annotations

import secrets


class IndexState:
    """Redis keys and names owned by the search index."""

    ALIAS = "customers"  # 2.x: the alias queries go through
    CURRENT = "customers:search:current"  # name of the index serving queries
    BUILDING = "customers:search:building"  # name of the index a rebuild is filling
    VERSION = "customers:search:version"  # counter of index versions
    INDEXES = "customers:search:indexes"  # every index we created and have not dropped yet
    SCHEMA = "customers:search:schema:"  # + index name: the schema that index was built with
    BUILDING_TTL = 3600  # seconds; refreshed after every chunk, so a crashed rebuild's mark expires

    @staticmethod
    def index_name(version: int) -> str:
        # the token keeps names unique even after the counter is lost (FLUSHDB): the service
        # caches an index's schema by its name
        return f"customers_v{version}-{secrets.token_hex(3)}"

    @staticmethod
    def doc_prefix(index: str) -> str:
        return f"cs:{index.rsplit('_v', 1)[-1]}:"

    @staticmethod
    def doc_key(index: str, customer_id: int) -> str:
        return f"{IndexState.doc_prefix(index)}{customer_id}"
