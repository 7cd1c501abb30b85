"""Internal HTTP API of invoices: billing runs, product orders, lists and details."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from services.invoicing import catalog, changes, exports, invoices, listing, runs, sending
from services.invoicing.proforma import proformas
from services.invoicing.usage_barrier import wait_for_usage
from shared.api.catalog import InvoiceEdit, ProductOrderIn, RegenerateIn, SendIn
from shared.api.types import Day, Month
from shared.errors import NotFound
from shared.money import Money
from shared.service import Runtime


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.post("/billing-runs")
    async def billing_run(body: dict[str, Any]) -> dict[str, Any]:
        period = str(body.get("period", ""))
        runs.parse_period(period)  # a bad period is refused before any wait
        waited = await wait_for_usage(runtime, _timeout(runtime, "run"))
        async with runtime.pool.acquire() as conn:
            result = await runs.billing_run(conn, period, window=_window(runtime))
        return {**result, "usage_wait_ms": round(waited, 1)}

    @api.post("/product-orders", status_code=201)
    async def product_order(body: dict[str, Any]) -> dict[str, Any]:
        order = ProductOrderIn.model_validate(body)
        async with runtime.pool.acquire() as conn:
            return await runs.product_order(conn, order)

    @api.post("/invoices/regenerate")
    async def regenerate(body: dict[str, Any]) -> dict[str, Any]:
        request = RegenerateIn.model_validate({k: v for k, v in body.items() if k != "by"})
        await wait_for_usage(runtime, _timeout(runtime, "run"))
        async with runtime.pool.acquire() as conn:
            return await changes.regenerate(
                conn,
                request.period,
                request.org_id,
                str(body.get("by", "system")),
                window=_window(runtime),
            )

    @api.post("/invoices/{invoice_id}/approve")
    async def approve(invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return await changes.approve(conn, invoice_id, str(body.get("by", "system")))

    @api.patch("/invoices/{invoice_id}")
    async def edit(invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        by = str(body.pop("by", "system"))
        request = InvoiceEdit.model_validate(body)
        async with runtime.pool.acquire() as conn:
            return await changes.edit(conn, invoice_id, request, by)

    @api.post("/invoices/{invoice_id}/send", status_code=202)
    async def send(invoice_id: str, body: dict[str, Any]) -> dict[str, Any]:
        by = str(body.pop("by", "system"))
        key = body.pop("idempotency_key", None)
        request = SendIn.model_validate(body)
        async with runtime.pool.acquire() as conn:
            return await sending.request_send(
                conn, invoice_id, request.to, request.emails, by, key=key and str(key)
            )

    @api.post("/reminders/run")
    async def reminders(body: dict[str, Any]) -> dict[str, Any]:
        today = date.fromisoformat(body["today"]) if body.get("today") else datetime.now(UTC).date()
        interval = int(getattr(runtime.settings, "reminder_interval_days", 7))
        async with runtime.pool.acquire() as conn:
            return await sending.send_reminders(conn, today, interval)

    @api.get("/invoices/proforma")
    async def proforma(org_id: str | None = None) -> dict[str, Any]:
        await wait_for_usage(runtime, _timeout(runtime, "proforma"))
        async with runtime.pool.acquire() as conn:
            org_ids = await catalog.org_tree(conn, org_id) if org_id else None
            return await proformas(conn, datetime.now(UTC).date(), org_ids, window=_window(runtime))

    @api.get("/invoices")
    async def list_invoices(
        query: Annotated[ListQuery, Depends()],
        limit: int = Query(default=50, ge=1, le=500),
        cursor: str | None = None,
        sort: str | None = None,
    ) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            org_ids = await catalog.org_tree(conn, query.org_id) if query.org_id else None
            return await listing.search(conn, query.filters(), org_ids, limit, cursor, sort)

    @api.get("/invoices/report")
    async def report(
        query: Annotated[ListQuery, Depends()], sort: str | None = None
    ) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            org_ids = await catalog.org_tree(conn, query.org_id) if query.org_id else None
            return await exports.report(conn, query.filters(), org_ids, sort)

    @api.get("/invoices/{invoice_id}/ipt")
    async def ipt(invoice_id: str, within_org: str | None = None) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            await visible_or_404(conn, invoice_id, within_org)
            return {
                "columns": list(exports.IPT_COLUMNS),
                "rows": await exports.ipt(conn, invoice_id),
            }

    @api.get("/invoices/{invoice_id}")
    async def invoice(invoice_id: str, within_org: str | None = None) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            detail = await invoices.get_detail(conn, invoice_id)
            visible = within_org is None or (
                detail is not None and detail["org_id"] in await catalog.org_tree(conn, within_org)
            )
        if detail is None or not visible:
            raise NotFound(f"no invoice {invoice_id}")
        return detail

    return api


async def visible_or_404(conn: Any, invoice_id: str, within_org: str | None) -> None:
    """An invoice outside the caller's organization tree does not exist for it."""
    org_id = await conn.fetchval("SELECT org_id FROM invoices WHERE invoice_id = $1", invoice_id)
    if org_id is None or (within_org and org_id not in await catalog.org_tree(conn, within_org)):
        raise NotFound(f"no invoice {invoice_id}")


@dataclass
class ListQuery:
    """The filters of the invoice list (and of its report)."""

    kind: Literal["subscription", "one_time"] = "subscription"
    org_id: str | None = None
    status: Literal["GENERATED", "SENT_FOR_PAYMENT", "PARTIAL_PAID", "PAYMENT_DONE"] | None = None
    invoice_id: str | None = None
    period: Month | None = None
    min_amount: Money | None = None
    max_amount: Money | None = None
    min_balance: Money | None = None
    max_balance: Money | None = None
    min_regular_charges: Money | None = None
    max_regular_charges: Money | None = None
    payable_from: Day | None = None
    payable_to: Day | None = None
    issued_from: Day | None = None
    issued_to: Day | None = None
    service_line_name: str | None = None
    plan_name: str | None = None

    def filters(self) -> dict[str, Any]:
        values = {k: v for k, v in vars(self).items() if k != "org_id"}
        values["kind"] = self.kind.upper()
        return values


def _timeout(runtime: Runtime, kind: str) -> float:
    seconds: float = getattr(runtime.settings, f"{kind}_settle_timeout_seconds", 60.0)
    return seconds


def _window(runtime: Runtime) -> int:
    months: int = getattr(runtime.settings, "correction_months", 3)
    return months
