"""Internal HTTP API of the notifier: an invoice's or credit note's document as HTML, PDF
(PDF/A-3 with its Factur-X XML) or UBL e-invoice. Only a service calls it (the invoicing
service, which has checked the user's organization scope and built the document): a user's
credential is refused, so nobody renders a document past that check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.notifier.rendering import Renderer
from shared.documents import CreditNoteDocument, InvoiceDocument
from shared.service import InternalCaller

XML = "application/xml"


def router(renderer: Callable[[], Renderer]) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.post("/documents/html", response_class=HTMLResponse)
    async def html(document: InvoiceDocument, caller: InternalCaller) -> HTMLResponse:
        caller.require("service")
        return HTMLResponse(renderer().html(document))

    @api.post("/documents/pdf")
    async def pdf(document: InvoiceDocument, caller: InternalCaller) -> Response:
        caller.require("service")
        return Response(await renderer().pdf(document), media_type="application/pdf")

    @api.post("/documents/ubl")
    async def invoice_ubl(document: InvoiceDocument, caller: InternalCaller) -> Response:
        caller.require("service")
        # A few milliseconds of lxml for a long invoice: kept off the event loop all the same.
        return Response(await asyncio.to_thread(renderer().ubl, document), media_type=XML)

    @api.post("/credit-notes/html", response_class=HTMLResponse)
    async def note_html(note: CreditNoteDocument, caller: InternalCaller) -> HTMLResponse:
        caller.require("service")
        return HTMLResponse(renderer().credit_note_html(note))

    @api.post("/credit-notes/pdf")
    async def note_pdf(note: CreditNoteDocument, caller: InternalCaller) -> Response:
        caller.require("service")
        return Response(await renderer().credit_note_pdf(note), media_type="application/pdf")

    @api.post("/credit-notes/ubl")
    async def note_ubl(note: CreditNoteDocument, caller: InternalCaller) -> Response:
        caller.require("service")
        return Response(await asyncio.to_thread(renderer().ubl, note), media_type=XML)

    return api
