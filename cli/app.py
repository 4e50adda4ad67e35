"""The HTTP application as it is served: the service with the scheduled jobs' administration and
the bulk import (run by the admin page's uploads), and, when asked, a scheduler hosted in each
service process.

uvicorn imports a factory by name in every worker process, so each composition has a factory
of its own (`service`, `service_with_scheduler`) rather than a switch the workers would have to
find in their environment.
"""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI

from customers.config import Settings, get_settings
from etl.admin import ImportsAdmin
from jobs.admin import JobsAdmin
from jobs.host import hosted_scheduler
from service import app as service_app


def create_app(settings: Settings | None = None, *, with_scheduler: bool = False) -> FastAPI:
    """The whole service: its routes, the jobs' routes, the admin page with the bulk import, and
    a hosted scheduler if asked."""
    settings = settings or get_settings()
    hooks = [partial(hosted_scheduler, settings)] if with_scheduler else []
    return service_app.create_app(settings, jobs=JobsAdmin(), imports=ImportsAdmin(), lifespan_hooks=hooks)


def service() -> FastAPI:
    """uvicorn's factory of `customers serve`."""
    return create_app()


def service_with_scheduler() -> FastAPI:
    """uvicorn's factory of `customers serve --with-scheduler`."""
    return create_app(with_scheduler=True)
