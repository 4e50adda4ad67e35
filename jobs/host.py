"""Hosting the scheduler inside the HTTP service (`customers serve --with-scheduler`).

Every service process (uvicorn worker) runs a `Scheduler` for as long as the application: it
starts once the application has started and stops before it shuts down. The processes elect one
leader between them like separate scheduler processes would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from customers import db
from customers.config import Settings
from jobs.scheduler import Scheduler


@asynccontextmanager
async def hosted_scheduler(settings: Settings) -> AsyncIterator[Scheduler]:
    """A scheduler running while the context is open (the application's lifespan)."""
    scheduler = await asyncio.to_thread(_start, settings)
    try:
        yield scheduler
    finally:
        await asyncio.to_thread(scheduler.shutdown)


def _start(settings: Settings) -> Scheduler:
    jobs_log = logging.getLogger("customers.jobs")
    if not jobs_log.handlers and not logging.getLogger().handlers:
        # uvicorn configures only its own loggers: leadership and run outcomes go to stderr too
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        jobs_log.addHandler(handler)
        jobs_log.setLevel(logging.INFO)

    scheduler = Scheduler(settings, db.resolve(settings).conninfo)
    scheduler.start()
    return scheduler
