"""Questionnaire settings: read, replace, change in part, reset, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from customers import settings_store
from service.deps import AdminDep, ConnDep, ReaderDep
from service.responses import ErrorBody, JSONResponse

router = APIRouter(prefix="/settings", tags=["settings"])

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "INVALID_SETTINGS naming the problem"}
}


@router.get("", responses={404: {"model": ErrorBody, "description": "SETTINGS_VERSION_NOT_FOUND"}})
async def get_settings(
    _: ReaderDep, conn: ConnDep, version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
) -> JSONResponse:
    """The questionnaire settings in force (or an earlier version), with the version number."""
    return JSONResponse(await settings_store.get_settings(conn, version))


@router.put("", responses=_INVALID)
async def put_settings(
    _: AdminDep,
    conn: ConnDep,
    document: dict[str, Any] = Body(
        ...,
        description="A settings document: {fields: [...], meta_fields: [...]} and any keys of the caller's own",
    ),
) -> JSONResponse:
    """Put a new settings document in force as the next version. Top-level keys other than
    `fields` and `meta_fields` are kept as given (any JSON value; the whole document at most
    256 KiB of JSON). An invalid document is refused with a message naming the problem, and the
    previous version stays in force."""
    return JSONResponse(await settings_store.set_settings(conn, document))


@router.patch("", responses=_INVALID)
async def patch_settings(
    _: AdminDep,
    conn: ConnDep,
    partial: dict[str, Any] = Body(
        ..., description="A partial settings document: {fields: [...]}, {meta_fields: [...]}, keys of the caller's own"
    ),
) -> JSONResponse:
    """Merge a partial settings document into the one in force, as the next version (as JSON-RPC
    `Customers.settings.set` does). A field spec in `fields` (or `meta_fields`) whose `key`
    exists replaces that spec in place (send the whole spec), a new key is appended, fields not
    mentioned are kept; any other top-level key (one of the caller's own, any JSON value) replaces
    that key's value, and keys not mentioned are kept. Removing a field or a key takes `PUT` with
    the whole document. The merged document is validated as a whole: an invalid one is refused
    with a message naming the problem, and the previous version stays in force. Concurrent
    partial changes are serialised, so none is lost."""
    return JSONResponse(await settings_store.update_settings(conn, partial))


@router.post("/reset")
async def reset_settings(_: AdminDep, conn: ConnDep) -> JSONResponse:
    """Return to the shipped default settings (recorded as a new version)."""
    return JSONResponse(await settings_store.reset_settings(conn))


@router.get("/history")
async def history(_: ReaderDep, conn: ConnDep) -> JSONResponse:
    """Every settings version, newest first."""
    return JSONResponse({"items": await settings_store.settings_history(conn)})
