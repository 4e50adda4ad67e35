"""What an administration operation works with: one Redis client and its probed dialect, one
PostgreSQL connection, and the index state kept in Redis read through them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import redis

from customers import db
from customers.config import Settings
from customers.questionnaire import Questionnaire
from customers.questionnaire_document import QuestionnaireDocument
from customers.search.client import (
    REDIS_ERRORS,
    Dialect,
    SearchUnavailable,
    SyncClient,
    command,
    connect,
    pairs,
    probe,
    text,
)
from customers.search.schema import IndexSchema
from customers.search.state import IndexState


@dataclass
class Session:
    settings: Settings
    redis: SyncClient
    dialect: Dialect
    conn: psycopg.Connection[Any]

    def current(self) -> str | None:
        return text(self.redis.get(IndexState.CURRENT))

    def targets(self) -> list[str]:
        """Indexes a write goes to: the current one and the one being built, if any."""
        found = [text(name) for name in self.redis.mget([IndexState.CURRENT, IndexState.BUILDING])]
        return list(dict.fromkeys(name for name in found if name))

    def indexes(self) -> set[str]:
        """Every index of ours that has not been dropped."""
        return {name for name in (text(m) for m in self.redis.smembers(IndexState.INDEXES)) if name}

    def schema_of(self, index: str) -> IndexSchema | None:
        stored = text(self.redis.get(IndexState.SCHEMA + index))
        return IndexSchema.from_json(stored) if stored else None

    def num_docs(self, index: str) -> int | None:
        try:
            return self.dialect.num_docs(pairs(command(self.redis, "FT.INFO", index)))
        except redis.ResponseError:
            return None

    def count_customers(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM customers").fetchone()
        return int(row[0]) if row else 0


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """Connect to Redis (probing its dialect) and PostgreSQL."""
    client = connect(settings)
    try:
        dialect = probe(client)
        with db.connect(db.resolve(settings).conninfo, autocommit=True) as conn:
            yield Session(settings, client, dialect, conn)
    except REDIS_ERRORS as exc:
        raise SearchUnavailable(f"Redis is unavailable: {exc}") from exc
    finally:
        client.close()


def load_questionnaire(conn: psycopg.Connection[Any]) -> Questionnaire:
    """The questionnaire in force (synchronously, for rebuilds and jobs)."""
    row = conn.execute("SELECT version, document FROM questionnaire_versions ORDER BY version DESC LIMIT 1").fetchone()
    if row is None:
        return Questionnaire.default()
    return Questionnaire(QuestionnaireDocument.model_validate(row[1]), row[0])
