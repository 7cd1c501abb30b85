"""Internal HTTP API of credit notes: the list, one, and its documents (HTML, PDF, UBL), within
the caller's organization tree (another tree's credit note does not exist for it)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from services.invoicing import credit_notes, invoice_api, notifier_client
from shared.errors import NotFound
from shared.internal_auth import Caller
from shared.internal_client import Answer
from shared.service import InternalCaller, Runtime

DocumentMedia = Literal["html", "pdf", "ubl"]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.get("/credit-notes")
    async def list_credit_notes(
        caller: InternalCaller,
        org_id: str | None = Query(default=None, max_length=64),
        invoice_id: str | None = Query(default=None, max_length=64),
        limit: int = Query(default=50, ge=1, le=credit_notes.LIST_LIMIT),
        cursor: str | None = Query(default=None, max_length=64),
    ) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            org_ids = await invoice_api.visible_orgs(conn, caller, org_id)
            found = await credit_notes.search(conn, org_ids, invoice_id, limit, cursor)
        if caller.org_scope is not None:
            found["items"] = [credit_notes.customer_view(x) for x in found["items"]]
        return found

    @api.get("/credit-notes/{number}")
    async def credit_note(number: str, caller: InternalCaller) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            note = await credit_notes.get(conn, number)
            if note is not None:
                await invoice_api.visible_or_404(conn, note["invoice_id"], caller.org_scope)
        if note is None:
            raise NotFound(f"no credit note {number}")
        return note if caller.org_scope is None else credit_notes.customer_view(note)

    @api.get("/credit-notes/{number}/document", response_class=HTMLResponse)
    async def document(number: str, caller: InternalCaller) -> HTMLResponse:
        return HTMLResponse((await _rendered(number, caller, "html")).text)

    @api.get("/credit-notes/{number}/pdf")
    async def pdf(number: str, caller: InternalCaller) -> Response:
        made = await _rendered(number, caller, "pdf")
        return Response(made.content, media_type="application/pdf")

    @api.get("/credit-notes/{number}/ubl")
    async def ubl(number: str, caller: InternalCaller) -> Response:
        made = await _rendered(number, caller, "ubl")
        return Response(made.content, media_type="application/xml")

    async def _rendered(number: str, caller: Caller, media: DocumentMedia) -> Answer:
        """Scope checked here, the document built here, rendered by the notifier (as for an
        invoice: `invoice_api._rendered`)."""
        async with runtime.pool.acquire() as conn:
            invoice_id = await conn.fetchval(
                "SELECT invoice_id FROM credit_notes WHERE id = $1", number
            )
            if invoice_id is None:
                raise NotFound(f"no credit note {number}")
            await invoice_api.visible_or_404(conn, invoice_id, caller.org_scope)
            document = await credit_notes.get_document(conn, number)
        assert document is not None
        return await notifier_client.render_credit_note(runtime, document, media)

    return api
