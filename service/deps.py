"""Request-scoped needs as typed dependencies: the caller's role, a database connection,
the questionnaire in force."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool

from customers.config import Role, Settings
from customers.db import AsyncConn
from customers.errors import ValidationFailed, nul_text_errors
from customers.questionnaire import Questionnaire
from customers.settings_store import QuestionnaireCache


class Unauthorized(Exception):
    """No usable bearer token (401)."""


class Forbidden(Exception):
    """A valid token whose role may not do this (403)."""


@dataclass(frozen=True)
class Caller:
    role: Role


def _match_token(presented: str, tokens: dict[str, Role]) -> Role | None:
    # compare against every configured token, in constant time each, whatever matches
    found: Role | None = None
    for token, role in tokens.items():
        if hmac.compare_digest(presented.encode(), token.encode()):
            found = role
    return found


def _caller(request: Request) -> Caller:
    tokens: dict[str, Role] = request.app.state.tokens
    if not tokens:  # open mode: the service listens on loopback only
        return Caller("admin")
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized("a bearer token is required (Authorization: Bearer <token>)")
    role = _match_token(presented.strip(), tokens)
    if role is None:
        raise Unauthorized("the bearer token is not valid")
    return Caller(role)


def refuse_nul_text(request: Request) -> None:
    """A path or query parameter holding the NUL character is a 422 naming the parameter:
    PostgreSQL's text cannot store it (bodies are checked by service.middleware)."""
    scope = request.scope
    if "\x00" not in scope["path"] and b"%00" not in scope["query_string"]:
        return
    errors = [e for name, value in request.path_params.items() for e in nul_text_errors(str(value), name)]
    errors += [e for name, value in request.query_params.multi_items() for e in nul_text_errors(value, name)]
    if errors:
        raise ValidationFailed(list(dict.fromkeys(errors)))


def reader(request: Request) -> Caller:
    """Lookups and search: readers and admins."""
    return _caller(request)


def admin(request: Request) -> Caller:
    """Writes, settings, index and job administration: admins only."""
    caller = _caller(request)
    if caller.role != "admin":
        raise Forbidden("this operation needs the admin role")
    return caller


async def connection(request: Request) -> AsyncIterator[AsyncConn]:
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        yield conn


def settings(request: Request) -> Settings:
    return request.app.state.settings


async def questionnaire(request: Request, conn: Annotated[AsyncConn, Depends(connection)]) -> Questionnaire:
    cache: QuestionnaireCache = request.app.state.questionnaire
    return await cache.get(conn)


# The dependencies below are `async def` although they do not await: FastAPI runs a plain
# `def` dependency in a worker thread, a hop that cost more than the whole lookup under load.
# (`reader`, `admin` and `settings` stay plain functions for callers outside FastAPI's DI.)


async def _reader(request: Request) -> Caller:
    return reader(request)


async def _admin(request: Request) -> Caller:
    return admin(request)


async def _settings(request: Request) -> Settings:
    return settings(request)


async def no_nul_text(request: Request) -> None:
    """Every route's check of its path and query parameters (see `refuse_nul_text`)."""
    refuse_nul_text(request)


ReaderDep = Annotated[Caller, Depends(_reader)]
AdminDep = Annotated[Caller, Depends(_admin)]
ConnDep = Annotated[AsyncConn, Depends(connection)]
SettingsDep = Annotated[Settings, Depends(_settings)]
QuestionnaireDep = Annotated[Questionnaire, Depends(questionnaire)]
