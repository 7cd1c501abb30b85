"""Internal HTTP API of the notifier: an invoice's document as HTML or PDF. Only a service calls
it (the invoicing service, which has checked the user's organization scope and built the
document): a user's credential is refused, so nobody renders an invoice past that check."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.notifier.rendering import Renderer
from shared.documents import InvoiceDocument
from shared.service import InternalCaller


def router(renderer: Callable[[], Renderer]) -> APIRouter:
    api = APIRouter(prefix="/internal/documents")

    @api.post("/html", response_class=HTMLResponse)
    async def html(document: InvoiceDocument, caller: InternalCaller) -> HTMLResponse:
        caller.require("service")
        return HTMLResponse(renderer().html(document))

    @api.post("/pdf")
    async def pdf(document: InvoiceDocument, caller: InternalCaller) -> Response:
        caller.require("service")
        return Response(await renderer().pdf(document), media_type="application/pdf")

    return api
