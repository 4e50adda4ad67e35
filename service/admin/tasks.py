"""Background tasks of the admin page (an import, an index rebuild): run in a worker thread,
their state kept as a small JSON file, so that whichever worker process answers the page's
polling request reads it.

A task has a folder of its own under the work dir, `tasks/<id>/`, holding `state.json` and
whatever the task writes (an uploaded file, its rejects). Task ids are random and checked
against their alphabet before they name a path.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from customers.errors import CustomersError

log = logging.getLogger("customers.admin")

Status = Literal["queued", "running", "succeeded", "failed", "interrupted"]
_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
STATE_FILE = "state.json"
# a running task reports its progress at most this often (each report rewrites the state file)
PROGRESS_INTERVAL = 0.5


class Progress:
    """Called by the work with (done, total); written to the state file now and then."""

    def __init__(self, store: TaskStore, task_id: str) -> None:
        self.store = store
        self.task_id = task_id
        self._last = 0.0

    def __call__(self, done: int, total: int | None = None) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            self.store.update(self.task_id, done=done, total=total)


class TaskStore:
    """Task folders and their states under `root`; work runs on a few threads of its own."""

    def __init__(self, root: Path, *, keep_days: float, workers: int = 2) -> None:
        self.root = root / "tasks"
        self.keep_seconds = keep_days * 86400
        # at most `workers` tasks work at once, the others wait (queued) in their threads
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()

    def folder(self, task_id: str) -> Path:
        if not _ID.fullmatch(task_id):
            raise ValueError("not a task id")
        return self.root / task_id

    def create(self, kind: str, **fields: Any) -> str:
        """A new task folder and its state (status queued); returns the task's id."""
        self.sweep()
        task_id = secrets.token_urlsafe(18)
        self.folder(task_id).mkdir(parents=True, mode=0o700)
        self._write(
            task_id,
            {
                "id": task_id,
                "kind": kind,
                "status": "queued",
                "created_at": _now(),
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "done": None,
                "total": None,
                "result": None,
                "error": None,
                **fields,
            },
        )
        return task_id

    def get(self, task_id: str) -> dict[str, Any] | None:
        """A task's state, or None for an unknown id. A task left running by a process that is
        gone (on this machine) reads as interrupted."""
        try:
            text = (self.folder(task_id) / STATE_FILE).read_text(encoding="utf-8")
        except (ValueError, OSError):
            return None
        state: dict[str, Any] = json.loads(text)
        if (
            state["status"] in ("queued", "running")
            and state.get("host") == socket.gethostname()
            and not _alive(int(state.get("pid", 0)))
        ):
            state["status"] = "interrupted"
            state["error"] = "the server process running it stopped"
        return state

    def update(self, task_id: str, **fields: Any) -> None:
        with self._lock:
            state = self.get(task_id)
            if state is None:
                return
            state.update(fields)
            self._write(task_id, state)

    def start(self, task_id: str, work: Callable[[Progress], Any]) -> None:
        """Run `work(progress)` on a task thread; its return value (JSON-ready) becomes the
        result, an expected error (CustomersError) the task's one-line error."""

        def run() -> None:
            with self._slots:
                self._run(task_id, work)

        # a daemon thread: stopping the server does not wait for an import; its transaction is
        # rolled back with the connection, and the task reads as interrupted
        threading.Thread(target=run, name=f"admin-task-{task_id[:8]}", daemon=True).start()

    def _run(self, task_id: str, work: Callable[[Progress], Any]) -> None:
        self.update(task_id, status="running", started_at=_now())
        try:
            result = work(Progress(self, task_id))
        except CustomersError as exc:
            self.update(task_id, status="failed", finished_at=_now(), error=exc.message, code=exc.code)
        except Exception as exc:
            log.exception("admin task %s failed", task_id)
            self.update(task_id, status="failed", finished_at=_now(), error=f"{type(exc).__name__}: {exc}")
        else:
            self.update(task_id, status="succeeded", finished_at=_now(), result=result)

    def discard(self, task_id: str) -> None:
        """Remove a task that never started, with its folder."""
        shutil.rmtree(self.folder(task_id), ignore_errors=True)

    def sweep(self) -> None:
        """Remove the folders of tasks older than the keeping time."""
        if not self.root.is_dir():
            return
        limit = time.time() - self.keep_seconds
        for folder in self.root.iterdir():
            try:
                if folder.stat().st_mtime < limit:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue

    def _write(self, task_id: str, state: dict[str, Any]) -> None:
        target = self.folder(task_id) / STATE_FILE
        temporary = target.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(state, default=str, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, target)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
