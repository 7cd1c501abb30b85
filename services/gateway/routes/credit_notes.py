"""Credit notes: the list, one, and its documents (HTML view, PDF, UBL). Org users see their own
tree's only. Credit notes are issued by editing a sent invoice (`PATCH /invoices/{id}`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from services.gateway.deps import PathId, Reader, Services
from services.gateway.downloads import download
from services.gateway.routes import API_PREFIX
from shared.api.responses import CreditNote, CreditNoteList

router = APIRouter(prefix=API_PREFIX, tags=["credit notes"])


@router.get("/credit-notes", response_model=CreditNoteList, summary="Credit notes, by number")
async def list_credit_notes(
    user: Reader,
    services: Services,
    org_id: str | None = Query(default=None, max_length=64),
    invoice_id: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=64),
) -> Any:
    params = {"org_id": org_id, "invoice_id": invoice_id, "limit": limit, "cursor": cursor}
    return await services.get(
        "invoicing",
        "/internal/credit-notes",
        params={k: v for k, v in params.items() if v is not None},
    )


@router.get("/credit-notes/{credit_note_id}", response_model=CreditNote, summary="A credit note")
async def credit_note(credit_note_id: PathId, user: Reader, services: Services) -> Any:
    return await services.get("invoicing", f"/internal/credit-notes/{credit_note_id}")


@router.get(
    "/credit-notes/{credit_note_id}/document",
    response_class=HTMLResponse,
    summary="The credit note as HTML (the same template as the PDF)",
)
async def document(credit_note_id: PathId, user: Reader, services: Services) -> HTMLResponse:
    page = await services.request(
        "invoicing", "GET", f"/internal/credit-notes/{credit_note_id}/document"
    )
    return HTMLResponse(page.text)


@router.get(
    "/credit-notes/{credit_note_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Download the credit note as PDF/A-3 with its Factur-X XML",
)
async def pdf(credit_note_id: PathId, user: Reader, services: Services) -> Response:
    made = await services.request(
        "invoicing", "GET", f"/internal/credit-notes/{credit_note_id}/pdf"
    )
    return download(made, credit_note_id, "pdf")


@router.get(
    "/credit-notes/{credit_note_id}/ubl",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
    summary="The credit note as UBL 2.1 (Peppol BIS Billing 3.0)",
)
async def ubl(credit_note_id: PathId, user: Reader, services: Services) -> Response:
    made = await services.request(
        "invoicing", "GET", f"/internal/credit-notes/{credit_note_id}/ubl"
    )
    return download(made, credit_note_id, "xml")
