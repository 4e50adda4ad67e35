"""RediSearch 1.x (Debian's `redis-redisearch` 1.2.2): documents go in through `FT.ADD`.

What differs from 2.x and is handled here: `FT.ADD ... REPLACE` keeps fields that are not resent
(so a replace is `FT.DEL key DD` + `FT.ADD`), `FT.DEL` needs `DD` to remove the hash, `FT.DROP`
deletes every document inside one blocking command (so the index is dropped with `KEEPDOCS` and
its hashes are unlinked in batches afterwards, see `lifecycle._drop`), there are no aliases (the
current index name lives in a key of ours, see `IndexState.CURRENT`) and `FT.INFO` reports
`num_docs` as a string.
"""

from __future__ import annotations

from typing import Any

Command = tuple[Any, ...]


class DialectV1:
    """Commands for RediSearch 1.x."""

    name = "1.x"
    has_aliases = False
    version = 0  # as MODULE LIST reports it
    module_args: tuple[str, ...] = ()  # 1.x takes its settings (TIMEOUT, ON_TIMEOUT...) only here

    def create(self, index: str, prefix: str, schema: list[str]) -> Command:
        # documents are added explicitly; the prefix is only our key naming
        return ("FT.CREATE", index, "STOPWORDS", 0, "SCHEMA", *schema)

    def put(self, index: str, key: str, fields: list[Any], *, fresh: bool) -> list[Command]:
        """Write one document. `fresh`: a bulk load into a new index — the write path may have
        put a newer copy there meanwhile, so REPLACE (the catch-up by updated_at rewrites those
        customers whole afterwards); otherwise delete first, as REPLACE keeps stale fields."""
        if fresh:
            return [("FT.ADD", index, key, 1.0, "REPLACE", "FIELDS", *fields)]
        return [("FT.DEL", index, key, "DD"), ("FT.ADD", index, key, 1.0, "FIELDS", *fields)]

    def delete(self, index: str, key: str) -> Command:
        return ("FT.DEL", index, key, "DD")

    def drop(self, index: str) -> Command:
        """Drop the index, keeping the document hashes (removed afterwards in batches)."""
        return ("FT.DROP", index, "KEEPDOCS")

    def switch(self, alias: str, index: str) -> list[Command]:
        return []

    def search_target(self, alias: str, index: str) -> str:
        return index

    def num_docs(self, info: dict[str, Any]) -> int:
        return int(float(info.get("num_docs", 0)))
