"""Invoice documents and e-mail: the HTML view and the PDF (org users within their tree), sending
to the customer's chosen contacts or to finance, and the reminders of overdue invoices.

Each route is one call to the invoicing service: for a document it checks the user's scope,
builds the document and has the notifier render it (`_rendered` in
services/invoicing/invoice_api.py says why there)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from services.gateway.audit import record
from services.gateway.auth import Principal
from services.gateway.deps import Admin, Db, PathId, Services, Staff, require
from services.gateway.downloads import download
from services.gateway.routes import API_PREFIX
from shared.api.catalog import SendIn
from shared.api.responses import RemindersResult, SendAccepted

router = APIRouter(prefix=API_PREFIX, tags=["documents"])
InvoiceReader = Annotated[Principal, Depends(require("admin", "finance", "org_user"))]


@router.get(
    "/invoices/{invoice_id}/document",
    response_class=HTMLResponse,
    summary="The invoice document as HTML (the same template as the PDF)",
)
async def document(invoice_id: PathId, user: InvoiceReader, services: Services) -> HTMLResponse:
    page = await services.request("invoicing", "GET", f"/internal/invoices/{invoice_id}/document")
    return HTMLResponse(page.text)


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Download the invoice as PDF (rendered once per content, then kept)",
)
async def pdf(invoice_id: PathId, user: InvoiceReader, services: Services) -> Response:
    made = await services.request("invoicing", "GET", f"/internal/invoices/{invoice_id}/pdf")
    return download(made, invoice_id, "pdf")


@router.get(
    "/invoices/{invoice_id}/ubl",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}},
    summary="The invoice as UBL 2.1 (Peppol BIS Billing 3.0 / EN 16931)",
)
async def ubl(invoice_id: PathId, user: InvoiceReader, services: Services) -> Response:
    made = await services.request("invoicing", "GET", f"/internal/invoices/{invoice_id}/ubl")
    return download(made, invoice_id, "xml")


@router.post(
    "/invoices/{invoice_id}/send",
    status_code=202,
    responses={202: {"model": SendAccepted}},
    summary="E-mail an approved invoice to chosen customer contacts or to finance",
)
async def send(
    invoice_id: PathId,
    body: SendIn,
    user: Staff,
    services: Services,
    db: Db,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Optional: the same key sends the same request once (a safe retry)",
        ),
    ] = None,
) -> JSONResponse:
    result = await services.call(
        "invoicing",
        "POST",
        f"/internal/invoices/{invoice_id}/send",
        json=body.model_dump(),
        headers={"Idempotency-Key": idempotency_key} if idempotency_key else {},
    )
    await record(
        db,
        user,
        request,
        "invoice.send",
        invoice_id,
        {"to": body.to, "recipients": result["recipients"], "request_id": result["request_id"]},
    )
    return JSONResponse(result, status_code=202)


@router.post(
    "/reminders/run",
    response_model=RemindersResult,
    summary="Request reminders for overdue invoices now (the scheduler does it daily)",
)
async def reminders(user: Admin, services: Services, db: Db, request: Request) -> Any:
    result = await services.call("invoicing", "POST", "/internal/reminders/run", json={})
    await record(db, user, request, "reminders.run", None, {"reminded": len(result["reminded"])})
    return result
