"""Index documents: PostgreSQL produces their values (`IndexSchema.documents_sql`, set-based,
the same expressions `find` uses on PostgreSQL); this lays them out as the dialect's commands."""

from __future__ import annotations

from typing import Any

from customers.search.client import Dialect
from customers.search.schema import IndexSchema
from customers.search.state import IndexState

Command = tuple[Any, ...]


def commands_for(dialect: Dialect, index: str, schema: IndexSchema, rows: list[tuple[Any, ...]], *, fresh: bool) -> list[Command]:
    """Commands writing one document per `(id, *values)` row; NULL values are left out.
    `fresh`: the index cannot hold these documents yet (a bulk load), so no delete first."""
    names = schema.document_columns()
    prefix = IndexState.doc_prefix(index)
    put = dialect.put
    commands: list[Command] = []
    for row in rows:
        fields: list[Any] = []
        for name, value in zip(names, row[1:]):
            if value is not None:
                fields.append(name)
                fields.append(value)
        commands += put(index, f"{prefix}{row[0]}", fields, fresh=fresh)
    return commands


def delete_commands(dialect: Dialect, index: str, ids: list[int]) -> list[Command]:
    """Commands removing these customers' documents (with their hashes)."""
    return [dialect.delete(index, IndexState.doc_key(index, i)) for i in ids]
