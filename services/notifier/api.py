"""Internal HTTP API of the notifier: an invoice's document as HTML or PDF. The gateway sends
the invoice detail it read (and scoped) from the invoicing service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.notifier.rendering import Renderer


def router(renderer: Callable[[], Renderer]) -> APIRouter:
    api = APIRouter(prefix="/internal/documents")

    @api.post("/html", response_class=HTMLResponse)
    async def html(detail: dict[str, Any]) -> HTMLResponse:
        return HTMLResponse(renderer().html(detail))

    @api.post("/pdf")
    async def pdf(detail: dict[str, Any]) -> Response:
        return Response(await renderer().pdf(detail), media_type="application/pdf")

    return api
