"""Invoice routes: billing runs, product orders, the invoice list with totals and counts, and
an invoice's detail. An org_user sees only its own organization tree: another organization's
invoice is a 404."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from services.gateway.audit import record
from services.gateway.auth import Principal
from services.gateway.deps import Db, OrgScope, PathId, Services, Staff, require
from services.gateway.exports import XLSX, exported
from services.gateway.routes import API_PREFIX
from shared.api.catalog import BillingRunIn, InvoiceEdit, ProductOrderIn, RegenerateIn
from shared.api.responses import (
    BillingRunResult,
    InvoiceDetail,
    InvoiceList,
    InvoiceSummary,
    RegenerateResult,
)
from shared.api.types import Day
from shared.errors import ValidationFailed
from shared.money import Money
from shared.routes import on_the_loop

router = APIRouter(prefix=API_PREFIX, tags=["invoices"])
InvoiceReader = Annotated[Principal, Depends(require("admin", "finance", "org_user"))]
LONG_RUN = 900.0  # seconds: a month-end run over every service line is one long transaction
Status = Literal["GENERATED", "SENT_FOR_PAYMENT", "PARTIAL_PAID", "PAYMENT_DONE"]


@router.post(
    "/billing-runs",
    response_model=BillingRunResult,
    summary="Generate a period's subscription invoices (idempotent)",
)
async def billing_run(
    body: BillingRunIn, user: Staff, services: Services, db: Db, request: Request
) -> Any:
    result = await services.call(
        "invoicing", "POST", "/internal/billing-runs", json=body.model_dump(), timeout=LONG_RUN
    )
    await record(
        db,
        user,
        request,
        "billing_run",
        body.period,
        {"generated": len(result["generated"]), "skipped": len(result["skipped"])},
    )
    return result


@router.post(
    "/product-orders",
    status_code=201,
    responses={201: {"model": InvoiceDetail}},
    summary="Order products: creates the ONE_TIME invoice at once and returns it",
)
async def product_order(
    body: ProductOrderIn, user: Staff, services: Services, db: Db, request: Request
) -> JSONResponse:
    invoice = await services.call(
        "invoicing", "POST", "/internal/product-orders", json=body.model_dump(mode="json")
    )
    await record(db, user, request, "product_order", invoice["invoice_id"], {})
    return JSONResponse(invoice, status_code=201)


def view_range(view: str | None, today: date) -> tuple[date | None, date | None]:
    """The issue dates a view covers: `this_month` (UTC), `as_of_today` (issued until today)."""
    if view == "this_month":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1)
    if view == "as_of_today":
        return None, today
    return None, None


@dataclass
class InvoiceFilters:
    """The filters of the invoice list, shared by the list and the Export Invoice Report."""

    kind: Literal["subscription", "one_time"] = "subscription"
    org_id: str | None = None
    service_line_name: str | None = None
    plan_name: str | None = None
    invoice_id: str | None = None
    status: Status | None = None
    min_regular_charges: Money | None = None
    max_regular_charges: Money | None = None
    min_amount: Money | None = None
    max_amount: Money | None = None
    min_balance: Money | None = None
    max_balance: Money | None = None
    payable_from: Day | None = None
    payable_to: Day | None = None
    view: Literal["this_month", "as_of_today", "proforma"] | None = None
    sort: Annotated[
        str | None,
        Query(
            description="invoice_id (default), issued_on, payable_on, amount, balance,"
            " regular_charges, org_name or status; prefix - for descending"
        ),
    ] = None

    def query(self, scope: str | None) -> dict[str, str]:
        """The invoicing service's query: an org_user sees its own tree, whatever it asked."""
        values: dict[str, Any] = {k: v for k, v in vars(self).items() if k != "view"}
        if scope is not None:
            values["org_id"] = scope
        issued_from, issued_to = view_range(self.view, datetime.now(UTC).date())
        values["issued_from"], values["issued_to"] = issued_from, issued_to
        return {k: str(v) for k, v in values.items() if v is not None}


Filters = Annotated[InvoiceFilters, Depends(on_the_loop(InvoiceFilters))]


@router.get(
    "/invoices",
    response_model=InvoiceList,
    summary="Invoices with totals and status counts of the filtered set",
)
async def list_invoices(
    user: InvoiceReader,
    scope: OrgScope,
    services: Services,
    filters: Filters,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = None,
) -> Any:
    if filters.view == "proforma":
        if filters.kind != "subscription":
            raise ValidationFailed(
                "proforma invoices are subscription invoices",
                fields={"view": "proforma goes with kind=subscription"},
            )
        org_id = scope or filters.org_id
        params = {"org_id": org_id} if org_id else None
        return await services.get("invoicing", "/internal/invoices/proforma", params)
    query = {**filters.query(scope), "limit": str(limit)}
    if cursor:
        query["cursor"] = cursor
    return await services.get("invoicing", "/internal/invoices", query)


@router.get(
    "/invoices/report",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
    summary="Export Invoice Report: every invoice the list's filters select, CSV or XLSX",
)
async def invoice_report(
    user: InvoiceReader,
    scope: OrgScope,
    services: Services,
    filters: Filters,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    if filters.view == "proforma":
        raise ValidationFailed(
            "the report covers issued invoices", fields={"view": "this_month or as_of_today"}
        )
    report = await services.get("invoicing", "/internal/invoices/report", filters.query(scope))
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    return await exported(report["columns"], report["rows"], format, f"invoice-report-{stamp}")


@router.get(
    "/invoices/{invoice_id}/ipt",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
    summary="Export an invoice's posting transactions (IPT): issue, revisions, payments",
)
async def invoice_ipt(
    invoice_id: PathId,
    user: InvoiceReader,
    services: Services,
    format: Literal["csv", "xlsx"] = "csv",
) -> Response:
    ipt = await services.get("invoicing", f"/internal/invoices/{invoice_id}/ipt")
    return await exported(ipt["columns"], ipt["rows"], format, f"{invoice_id}-ipt")


@router.get(
    "/invoices/{invoice_id}",
    response_model=InvoiceDetail,
    summary="An invoice with its lines and allowed actions",
)
async def get_invoice(invoice_id: PathId, user: InvoiceReader, services: Services) -> Response:
    # The invoicing service's JSON as it came: the detail is what a client polls for a balance,
    # and parsing it, validating it against `InvoiceDetail` (which allows extra fields and
    # fills no default the service leaves out) and writing it again changed nothing but cost
    # the gateway ~6 % of its samples on the call (py-spy). `response_model` still documents it.
    answer = await services.request("invoicing", "GET", f"/internal/invoices/{invoice_id}")
    return Response(answer.content, media_type="application/json")


@router.post(
    "/invoices/regenerate",
    response_model=RegenerateResult,
    summary="Recompute a period's GENERATED, unapproved subscription invoices",
)
async def regenerate(
    body: RegenerateIn, user: Staff, services: Services, db: Db, request: Request
) -> Any:
    result = await services.call(
        "invoicing",
        "POST",
        "/internal/invoices/regenerate",
        json=body.model_dump(),
        timeout=LONG_RUN,
    )
    await record(
        db,
        user,
        request,
        "invoices.regenerate",
        body.period,
        {"org_id": body.org_id, "regenerated": len(result["regenerated"])},
    )
    return result


@router.post(
    "/invoices/{invoice_id}/approve",
    response_model=InvoiceSummary,
    summary="Approve an invoice (clears on edit)",
)
async def approve(
    invoice_id: PathId, user: Staff, services: Services, db: Db, request: Request
) -> Any:
    result = await services.call("invoicing", "POST", f"/internal/invoices/{invoice_id}/approve")
    await record(db, user, request, "invoice.approve", invoice_id, {})
    return result


@router.patch(
    "/invoices/{invoice_id}",
    response_model=InvoiceSummary,
    summary="Edit an invoice's lines with a reason: a new revision, approval cleared",
)
async def edit(
    invoice_id: PathId,
    body: InvoiceEdit,
    user: Staff,
    services: Services,
    db: Db,
    request: Request,
) -> Any:
    result = await services.call(
        "invoicing",
        "PATCH",
        f"/internal/invoices/{invoice_id}",
        json=body.model_dump(mode="json"),
    )
    await record(
        db,
        user,
        request,
        "invoice.edit",
        invoice_id,
        {"reason": body.reason, "amount": result["amount"], "revision": result["revision"]},
    )
    return result
