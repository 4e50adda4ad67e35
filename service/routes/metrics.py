"""Prometheus exposition of the service's (and the other areas') metrics."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from customers import metrics
from service.deps import ReaderDep

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(_: ReaderDep) -> Response:
    """Every metric in the Prometheus text format (merged across workers)."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
