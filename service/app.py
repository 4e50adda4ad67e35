"""The HTTP application, built in one place: pool, routers, error handlers."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from psycopg_pool import AsyncConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from customers import db
from customers.config import Settings, get_settings
from customers.errors import CustomersError, DatabaseUnavailable, FieldError, ValidationFailed
from customers.questionnaire import field_errors
from customers.settings_store import QuestionnaireCache
from service.admin import site as admin_site
from service.admin.uploads import ImportRunner
from service.deps import Forbidden, Unauthorized, no_nul_text
from service.fastlane import ServiceAPI
from service.middleware import ServiceMiddleware, recheck_pool
from service.responses import JSONResponse
from service.routes import cards as card_routes
from service.routes import customers as customer_routes
from service.routes import groups as group_routes
from service.routes import health as health_routes
from service.routes import jobs as jobs_routes
from service.routes import metrics as metrics_routes
from service.routes import search as search_routes
from service.routes import settings as settings_routes
from service.rpc import endpoint as rpc_endpoint
from service.write_batches import Writes

log = logging.getLogger("customers.service")

# Something that runs for as long as the application does (entered once it has started, left
# before it shuts down), e.g. a scheduler hosted in the service process.
LifespanHook = Callable[[], AbstractAsyncContextManager[object]]


def create_app(
    config: Settings | None = None,
    *,
    jobs: jobs_routes.JobsAdmin | None = None,
    imports: ImportRunner | None = None,
    lifespan_hooks: Sequence[LifespanHook] = (),
) -> FastAPI:
    """Build the ASGI application; with `jobs`, it serves their administration routes; the admin
    page (/admin) runs uploaded files through `imports`."""
    config = config or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        target = db.resolve(config)
        pool = AsyncConnectionPool(
            target.conninfo,
            min_size=config.db_pool_min_size,
            max_size=config.db_pool_max_size,
            kwargs={"autocommit": True},
            timeout=config.db_pool_timeout,
            open=False,
        )
        await pool.open(wait=False)
        # What start-up built (app, models, phone metadata) lives as long as the process: frozen,
        # it stays out of the collector's full passes, each long enough to show as a latency
        # spike (docs/operations.md).
        gc.freeze()
        app.state.pool = pool
        app.state.db_target = target
        app.state.lookups = customer_routes.Lookups(pool, coalescing=config.lookup_coalescing)
        app.state.writes = writes = Writes(
            pool, app.state.questionnaire, config.phone_default_region, coalescing=config.write_coalescing
        )
        await writes.open()
        app.state.pools = [pool] + ([writes.batch_pool] if writes.batch_pool else [])
        try:
            async with AsyncExitStack() as hooks:
                for hook in lifespan_hooks:
                    await hooks.enter_async_context(hook())
                yield
        finally:
            await app.state.lookups.aclose()
            await app.state.writes.aclose()
            await pool.close()

    app = ServiceAPI(
        # the till's lookups and the customer writes on a short path (service.fastlane)
        fast_routes=[*customer_routes.lookup_routes, *customer_routes.write_routes],
        dependencies=[Depends(no_nul_text)],
        title="customers",
        summary="Customer data of a retail loyalty program",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = config
    app.state.tokens = config.tokens()
    app.state.questionnaire = QuestionnaireCache()
    app.state.health_probes = {}

    for routes in (
        search_routes,
        customer_routes,
        settings_routes,
        health_routes,
        metrics_routes,
        group_routes,
        card_routes,
        rpc_endpoint,
    ):
        app.include_router(routes.router)
    if jobs is not None:
        app.state.jobs_admin = jobs
        app.include_router(jobs_routes.router)
    admin = admin_site.install(app, config, imports_runner=imports)
    _install_error_handlers(app)
    app.add_middleware(
        ServiceMiddleware,
        max_body_bytes=config.http_max_body_bytes,
        max_json_depth=config.http_max_json_depth,
        access_log=config.access_log,
        own_parsing=(rpc_endpoint.PATH,),
        streamed={admin_site.UPLOAD_PATH: admin.admin_upload_max_bytes},
    )
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """One handler per error family; routes never build error bodies."""

    async def service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CustomersError)
        if isinstance(exc, DatabaseUnavailable):
            recheck_pool(request.app)
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    async def request_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_errors_from_request(exc)
        return JSONResponse(ValidationFailed(errors).to_dict(), status_code=422)

    async def unauthorized(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"code": "UNAUTHORIZED", "message": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    async def forbidden(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"code": "FORBIDDEN", "message": str(exc)}, status_code=403)

    async def driver_error(request: Request, exc: Exception) -> JSONResponse:
        service_exc = db.translate(exc)
        if isinstance(service_exc, CustomersError):
            return await service_error(request, service_exc)
        log.exception("database error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"code": "INTERNAL_ERROR", "message": "internal error"}, status_code=500)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's own answers (unknown path, wrong method) in the service's error body; a 405
        # lists every method the routes serve at the path, not only those of the first route
        # that matched it (FastAPI keeps one route per method).
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return JSONResponse({"code": code, "message": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(CustomersError, service_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(Forbidden, forbidden)
    for driver_error_type in db.DRIVER_ERRORS:
        app.add_exception_handler(driver_error_type, driver_error)


def _allowed_methods(request: Request) -> list[str]:
    """The methods the application's routes serve at the request's path (HEAD with GET); the
    router itself decides, so `/groups/memberships` is not taken for `/groups/{group_id:int}`."""
    methods = {"GET", "POST", "PUT", "PATCH", "DELETE"}
    allowed = {
        method
        for method in methods
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.router.routes
        )
    }
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def field_errors_from_request(exc: RequestValidationError) -> list[FieldError]:
    """FastAPI's request errors with the service's codes; the `body`/`path`/`query` part of
    each location is dropped, so fields are named as the caller sent them."""
    errors = [{**e, "loc": tuple(e["loc"])[1:] or ("body",)} for e in exc.errors()]
    return field_errors(errors)
