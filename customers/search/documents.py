"""Index documents: PostgreSQL produces their values (`IndexSchema.documents_sql`, set-based,
the same expressions `find` uses on PostgreSQL); this lays them out as the dialect's commands."""

from __future__ import annotations

from typing import Any

from customers.search.client import Dialect
from customers.search.schema import IndexSchema
from customers.search.state import IndexState

Command = tuple[Any, ...]


def commands_for(
    dialect: Dialect, index: str, schema: IndexSchema, rows: list[tuple[Any, ...]], *, fresh: bool
) -> list[Command]:
    """Commands writing one document per `(id, *values)` row; NULL values are left out.
    `fresh`: the index cannot hold these documents yet (a bulk load), so no delete first."""
    names = schema.document_columns()
    prefix = IndexState.doc_prefix(index)
    put = dialect.put
    commands: list[Command] = []
    for row in rows:
        fields: list[Any] = []
        for name, value in zip(names, row[1:], strict=False):
            if value is not None:
                fields.append(name)
                fields.append(value)
        commands += put(index, f"{prefix}{row[0]}", fields, fresh=fresh)
    return commands


_KEY = "\x00key\x00"
_FIELDS = "\x00fields\x00"


def _bulk(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return f"${len(text.encode())}\r\n{text}\r\n"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def encoded_sql(dialect: Dialect, index: str, schema: IndexSchema, where: str, *, fresh: bool) -> tuple[str, int]:
    """SQL returning `(id, commands)` rows where `commands` is the customer's write, already
    encoded in the Redis protocol (RESP) by PostgreSQL, in id order, `LIMIT %(limit)s`; and
    the number of commands per row. The bulk path then only joins and sends bytes."""
    template = dialect.put(index, _KEY, [_FIELDS], fresh=fresh)
    names = schema.document_columns()
    numeric = schema.numeric_columns()
    columns = [f"c{i}" for i in range(len(names))]
    pieces: list[str] = []
    key = f"{_literal(IndexState.doc_prefix(index))} || d.id"
    count = f"num_nonnulls({', '.join('d.' + c for c in columns)})"
    for command in template:
        constant = len([a for a in command if a != _FIELDS])
        header = (
            f"'*' || ({constant} + 2 * {count}) || E'\\r\\n'" if _FIELDS in command else _literal(f"*{constant}\r\n")
        )
        pieces.append(header)
        for arg in command:
            if arg == _KEY:
                pieces.append(f"'$' || octet_length({key}) || E'\\r\\n' || {key} || E'\\r\\n'")
            elif arg == _FIELDS:
                for name, column in zip(names, columns, strict=False):
                    text = f"d.{column}::text" if name in numeric else f"d.{column}"
                    pieces.append(
                        f"CASE WHEN d.{column} IS NULL THEN '' ELSE {_literal(_bulk(name))} || '$' || "
                        f"octet_length({text}) || E'\\r\\n' || {text} || E'\\r\\n' END"
                    )
            else:
                pieces.append(_literal(_bulk(arg)))
    inner = schema.documents_sql(where, limit=True)
    return f"SELECT d.id, {' || '.join(pieces)} FROM ({inner}) AS d ORDER BY d.id", len(template)


def delete_commands(dialect: Dialect, index: str, ids: list[int]) -> list[Command]:
    """Commands removing these customers' documents (with their hashes)."""
    return [dialect.delete(index, IndexState.doc_key(index, i)) for i in ids]
