"""Liveness and dependency health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from service.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Whether the database (and Redis, when search is on) answers; 503 when the database does not."""
    checks: dict[str, Any] = {}
    state = request.app.state
    try:
        async with state.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
        checks["database"] = {"ok": True, "kind": state.db_target.kind}
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", reported as such
        checks["database"] = {"ok": False, "kind": state.db_target.kind, "error": type(exc).__name__}
    for name, probe in getattr(state, "health_probes", {}).items():
        checks[name] = await probe()
    healthy = checks["database"]["ok"]
    degraded = any(not c.get("ok", True) for c in checks.values())
    body = {"status": "ok" if not degraded else ("degraded" if healthy else "unavailable"), **checks}
    return JSONResponse(body, status_code=200 if healthy else 503)
