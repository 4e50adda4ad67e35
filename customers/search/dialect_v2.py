"""RediSearch 2.x (Redis 8, Redis Stack): hashes under a versioned key prefix are indexed by the
server itself (`FT.CREATE ... ON HASH PREFIX`), queries go through an alias switched atomically
with `FT.ALIASUPDATE`. `FT.DROPINDEX ... DD` would drop an index with its documents in one blocking
command; the index is dropped alone and its hashes unlinked in batches (see `lifecycle._drop`)."""

from __future__ import annotations

from typing import Any

Command = tuple[Any, ...]


class DialectV2:
    """Commands for RediSearch 2.x."""

    name = "2.x"
    has_aliases = True
    version = 0  # as MODULE LIST reports it
    module_args: tuple[str, ...] = ()

    def create(self, index: str, prefix: str, schema: list[str]) -> Command:
        return ("FT.CREATE", index, "ON", "HASH", "PREFIX", 1, prefix, "STOPWORDS", 0, "SCHEMA", *schema)

    def put(self, index: str, key: str, fields: list[Any], *, fresh: bool) -> list[Command]:
        """Write one document; the whole hash is replaced so no stale field survives."""
        hset: Command = ("HSET", key, *fields)
        if fresh:
            return [hset]
        return [("DEL", key), hset]

    def delete(self, index: str, key: str) -> Command:
        return ("DEL", key)

    def drop(self, index: str) -> Command:
        """Drop the index, keeping the document hashes (removed afterwards in batches)."""
        return ("FT.DROPINDEX", index)

    def switch(self, alias: str, index: str) -> list[Command]:
        # ALIASUPDATE moves the alias, or creates it when no index holds it yet
        return [("FT.ALIASUPDATE", alias, index)]

    def search_target(self, alias: str, index: str) -> str:
        return alias

    def num_docs(self, info: dict[str, Any]) -> int:
        return int(float(info.get("num_docs", 0)))
