"""Hosting the scheduler inside the HTTP service (`customers serve --with-scheduler`).

Every service process (uvicorn worker) starts a `Scheduler` after the app's startup and stops it
at shutdown; they elect one leader between them like separate scheduler processes would. The
switch is an environment variable so that uvicorn's worker processes inherit it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from customers import db
from customers.config import Settings

WITH_SCHEDULER_ENV = "CUSTOMERS_WITH_SCHEDULER"


def enabled() -> bool:
    """Whether this service process should host a scheduler."""
    return os.environ.get(WITH_SCHEDULER_ENV, "").lower() in ("1", "true", "yes")


class SchedulerHost:
    """ASGI middleware that runs a scheduler for the lifetime of the application."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.scheduler: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def on_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and self.scheduler is not None:
                await asyncio.to_thread(self.scheduler.shutdown)
                self.scheduler = None
            return message

        async def on_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await asyncio.to_thread(self._start)
            await send(message)

        await self.app(scope, on_receive, on_send)

    def _start(self) -> None:
        from jobs.scheduler import Scheduler

        jobs_log = logging.getLogger("customers.jobs")
        if not jobs_log.handlers and not logging.getLogger().handlers:
            # uvicorn configures only its own loggers: leadership and run outcomes go to stderr too
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            jobs_log.addHandler(handler)
            jobs_log.setLevel(logging.INFO)

        self.scheduler = Scheduler(self.settings, db.resolve(self.settings).conninfo)
        self.scheduler.start()


def install(app: Any, settings: Settings) -> None:
    """Host a scheduler in this app when the service was started with --with-scheduler."""
    if enabled():
        app.add_middleware(SchedulerHost, settings=settings)
