"""Internal HTTP API of the payments service (the gateway is its only caller). A request on an
invoice this service has not heard of yet waits for it here (`arrival`), not in the gateway."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse

from services.payments import arrival, ledger, postings, repository
from services.payments.arrival import Patience
from shared.api.payments import PaymentIn, ReversalIn
from shared.errors import BadRequest, NotFound
from shared.internal_auth import CallerRole
from shared.service import InternalCaller, Runtime

KEY_MAX = 200
STAFF: tuple[CallerRole, ...] = ("admin", "finance", "service")


def idempotency_key(value: str | None) -> str:
    key = (value or "").strip()
    if not key or len(key) > KEY_MAX:
        raise BadRequest(
            "a payment needs an Idempotency-Key header (1 to 200 characters), unique per payment",
            fields={"Idempotency-Key": "required, 1 to 200 characters"},
        )
    return key


FIGURES_PAGE = 5000


def router(runtime: Runtime, patience: Patience) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.post("/invoices/{invoice_id}/payments", status_code=201)
    async def post_payment(
        invoice_id: str,
        body: PaymentIn,
        caller: InternalCaller,
        idempotency: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        caller.require(*STAFF)
        key = idempotency_key(idempotency)

        async def attempt() -> tuple[dict[str, Any], bool] | None:
            async with runtime.pool.acquire() as conn:
                return await postings.post(conn, invoice_id, body, key, caller.actor, caller.client)

        # The known invoice, the common case, costs no look of its own: the posting's read
        # finds it. Only an invoice not known yet is waited for (`arrival`), then tried again.
        done = await attempt()
        if done is None:
            await arrival.known_or_404(runtime, invoice_id, patience)
            done = await attempt()
        if done is None:  # known a moment ago: an invoice is never deleted
            raise NotFound(f"no invoice {invoice_id}", fields={"invoice_id": "unknown invoice"})
        payment, created = done
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return JSONResponse(payment, status_code=201, headers=headers)

    @api.post("/invoices/{invoice_id}/payments/{payment_id}/reversal", status_code=201)
    async def reverse_payment(
        invoice_id: str,
        payment_id: str,
        body: ReversalIn,
        caller: InternalCaller,
    ) -> dict[str, Any]:
        caller.require(*STAFF)
        async with runtime.pool.acquire() as conn:
            return await postings.reverse(conn, invoice_id, payment_id, body.reason, caller.actor)

    @api.get("/invoices/{invoice_id}/payments")
    async def invoice_payments(invoice_id: str, caller: InternalCaller) -> dict[str, Any]:
        caller.require(*STAFF)  # postings carry staff notes and addresses
        await arrival.known_or_404(runtime, invoice_id, patience)
        async with runtime.pool.acquire() as conn:
            rows = await repository.of_invoice(conn, invoice_id)
        return {"items": [postings.as_json(r) for r in rows], "next_cursor": None}

    @api.get("/invoices/{invoice_id}/known")
    async def known(invoice_id: str) -> dict[str, bool]:
        return {"known": await arrival.known(runtime, invoice_id)}

    @api.get("/invoice-figures")
    async def invoice_figures(
        caller: InternalCaller,
        after: str = Query(default="", max_length=64),
        limit: int = Query(default=FIGURES_PAGE, ge=1, le=FIGURES_PAGE),
    ) -> dict[str, Any]:
        """This service's copy of the invoices, a page in invoice order, for the invoicing
        service to check against its own (`payments_check` there)."""
        caller.require("service")
        async with runtime.pool.acquire() as conn:
            rows = await repository.invoice_figures(conn, after, limit)
        return {"items": [repository.figures_json(r) for r in rows]}

    @api.get("/ledger/check")
    async def ledger_check() -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return await ledger.check(conn)

    return api
