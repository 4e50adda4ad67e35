"""Questionnaire settings: read, replace, reset, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from customers import settings_store
from service.deps import AdminDep, ConnDep, ReaderDep
from service.responses import ErrorBody, JSONResponse

router = APIRouter(prefix="/settings", tags=["settings"])


@router.get("", responses={404: {"model": ErrorBody, "description": "SETTINGS_VERSION_NOT_FOUND"}})
async def get_settings(
    _: ReaderDep, conn: ConnDep, version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
) -> JSONResponse:
    """The questionnaire settings in force (or an earlier version), with the version number."""
    return JSONResponse(await settings_store.get_settings(conn, version))


@router.put("", responses={422: {"model": ErrorBody, "description": "INVALID_SETTINGS naming the problem"}})
async def put_settings(
    _: AdminDep,
    conn: ConnDep,
    document: dict[str, Any] = Body(
        ..., description="A questionnaire settings document: {fields: [...], meta_fields: [...]}"
    ),
) -> JSONResponse:
    """Put a new settings document in force as the next version. An invalid document is refused
    with a message naming the problem, and the previous version stays in force."""
    return JSONResponse(await settings_store.set_settings(conn, document))


@router.post("/reset")
async def reset_settings(_: AdminDep, conn: ConnDep) -> JSONResponse:
    """Return to the shipped default settings (recorded as a new version)."""
    return JSONResponse(await settings_store.reset_settings(conn))


@router.get("/history")
async def history(_: ReaderDep, conn: ConnDep) -> JSONResponse:
    """Every settings version, newest first."""
    return JSONResponse({"items": await settings_store.settings_history(conn)})
