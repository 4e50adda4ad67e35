"""The till's lookups and the single-customer writes on a short path through the application.

A GET by id, phone or email is the service's hottest request, a create or a partial update of
a customer the next. FastAPI adds layers to every request (telemetry hooks, its body limit, an
exit stack, dependency solving) that together cost more than the request's own Python work.
`ServiceAPI` answers the requests that one of its `fast_routes` matches fully through a stack
like a bare Starlette application's: the server error guard, the application's own middleware
(the same instances' options: body limits, metrics, logs) and exception handlers (the same
error bodies), then the route. Everything else, and the OpenAPI document, stays FastAPI's: the
documented routes for the same paths remain and serve whatever the fast routes do not match (a
non-numeric id, another method).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send


class ServiceAPI(FastAPI):
    """FastAPI with a fast lane for `fast_routes` (plain Starlette routes)."""

    def __init__(self, *args: Any, fast_routes: Sequence[BaseRoute] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_routes = list(fast_routes)
        self._fast_methods = frozenset(method for route in self.fast_routes for method in _methods(route))
        self._fast_stack: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in self._fast_methods:
            for route in self.fast_routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope["app"] = self
                    scope.update(child)
                    if self._fast_stack is None:
                        self._fast_stack = self._build_fast_stack()
                    await self._fast_stack(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    def _build_fast_stack(self) -> ASGIApp:
        error_handler = None
        handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value

        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            await scope["route"].handle(scope, receive, send)

        app: ASGIApp = ExceptionMiddleware(endpoint, handlers=handlers)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return ServerErrorMiddleware(app, handler=error_handler)


def _methods(route: BaseRoute) -> set[str]:
    return set(getattr(route, "methods", None) or ())
