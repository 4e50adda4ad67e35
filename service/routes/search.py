"""Search: `find` over customers, and index administration under /search/index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from customers import search, store
from service.deps import AdminDep, ConnDep, QuestionnaireDep, ReaderDep, SettingsDep
from service.responses import ErrorBody, JSONResponse


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """With search on: open the Redis client, copy every committed write into the index and
    report Redis in /health. With search off nothing here touches Redis."""
    config = app.state.settings
    if not config.search_enabled:
        app.state.search = None
        yield
        return
    runtime = search.SearchRuntime.open(config)
    app.state.search = runtime
    unsubscribe = store.on_change(search.IndexWriter(runtime, app.state.pool))
    app.state.health_probes["search"] = runtime.health
    try:
        yield
    finally:
        unsubscribe()
        app.state.health_probes.pop("search", None)
        await runtime.close()


router = APIRouter(tags=["search"], lifespan=lifespan)

_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ErrorBody,
        "description": "VALIDATION_FAILED: unknown field, unsortable sort key, "
        "a condition that does not fit the field, limit above 1000, a page beyond the window",
    },
}
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "SEARCH_DISABLED or SEARCH_BUSY (another rebuild runs)"},
    503: {"model": ErrorBody, "description": "SEARCH_UNAVAILABLE: Redis cannot be reached"},
}


@router.post("/customers/find", responses=_ERRORS)
async def find(
    body: search.FindRequest, request: Request, _: ReaderDep, conn: ConnDep, q: QuestionnaireDep, settings: SettingsDep
) -> JSONResponse:
    """Find customers by free text and filters; full records in the requested order, with the
    total count. Served by PostgreSQL when search is off or Redis cannot answer."""
    result = await search.find(conn, q, body, settings=settings, runtime=request.app.state.search)
    timing = ", ".join(f"{name};dur={ms:.2f}" for name, ms in result.timings.items())
    return JSONResponse(result.to_dict(), headers={"Server-Timing": timing} if timing else None)


@router.post("/search/index/init", responses=_ADMIN_ERRORS)
async def init_index(_: AdminDep, settings: SettingsDep, load_docs: bool = False) -> JSONResponse:
    """Create the index if it does not exist; `loaded` is null when it existed."""
    search.require_enabled(settings)
    loaded = await run_in_threadpool(search.init_index, settings, load_docs=load_docs)
    return JSONResponse({"created": loaded is not None, "loaded": loaded})


@router.post("/search/index/flush", responses=_ADMIN_ERRORS)
async def flush_index(_: AdminDep, settings: SettingsDep) -> JSONResponse:
    """Drop the index and all its documents."""
    search.require_enabled(settings)
    return JSONResponse({"dropped": await run_in_threadpool(search.flush_index, settings)})


@router.post("/search/index/migrate", responses=_ADMIN_ERRORS)
async def migrate_index(_: AdminDep, settings: SettingsDep) -> JSONResponse:
    """Build a new index version with every customer in chunks, switch to it atomically, drop
    the old one."""
    search.require_enabled(settings)
    result = await run_in_threadpool(search.migrate_index, settings)
    return JSONResponse(result.to_dict())


@router.get("/search/index/status", responses=_ADMIN_ERRORS)
async def index_status(_: AdminDep, settings: SettingsDep) -> JSONResponse:
    """Current index, its document count against the customers count, the last rebuild."""
    search.require_enabled(settings)
    return JSONResponse(await run_in_threadpool(search.index_status, settings))


@router.post("/search/index/consistency", responses=_ADMIN_ERRORS)
async def consistency(_: AdminDep, settings: SettingsDep, sample: int = 200, repair: bool = False) -> JSONResponse:
    """Compare the index with PostgreSQL (counts and a sample field by field); repair on demand."""
    search.require_enabled(settings)
    report = await run_in_threadpool(search.check_consistency, settings, sample=sample, repair=repair)
    return JSONResponse(report.to_dict())
