"""The admin page added to the service's application: its state and its routes."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from fastapi import FastAPI

from customers.config import Settings
from service.admin.config import AdminSettings, load_admin_settings
from service.admin.pages import auth, customers, imports, index, jobs, search, settings
from service.admin.session import SessionKeys
from service.admin.state import AdminState
from service.admin.tasks import TaskStore
from service.admin.templates import Templates
from service.admin.uploads import UPLOAD_PATH, ImportRunner

__all__ = ["UPLOAD_PATH", "install"]


def install(
    app: FastAPI, config: Settings, *, imports_runner: ImportRunner | None, admin: AdminSettings | None = None
) -> AdminSettings:
    """Serve the admin page under /admin; returns its settings (the upload limit is the
    middleware's to enforce)."""
    admin = admin or load_admin_settings()
    work_dir = admin.work_dir(config.customers_data_dir)
    open_seed = "" if config.tokens() else open_mode_secret(work_dir)
    app.state.admin = AdminState(
        settings=config,
        admin=admin,
        keys=SessionKeys(config.tokens(), open_seed=open_seed),
        templates=Templates(),
        tasks=TaskStore(work_dir, keep_days=admin.admin_keep_days),
        imports=imports_runner,
    )
    for page in (auth, search, customers, imports, jobs, settings, index):
        app.include_router(page.router)
    app.include_router(auth.fallback)
    return admin


def open_mode_secret(work_dir: Path) -> str:
    """With no tokens configured, sessions are signed with a random secret kept in the work dir
    (made once, readable by the service's user only), so every worker process of the machine
    accepts the same sessions."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "session.secret"
    if not path.exists():
        # written aside, then linked into place: a racing worker finds the whole file or none
        draft = work_dir / f"session.secret.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()
