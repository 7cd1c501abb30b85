"""Payment routes: post a payment exactly once (Idempotency-Key), reverse one, list an
invoice's postings, and check the ledger. Finance staff and admins only. Each is one call to the
payments service, which also waits for an invoice created a moment ago (`arrival` there)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.gateway.audit import record, record_batched
from services.gateway.deps import Admin, Db, PathId, Services, Staff
from services.gateway.routes import API_PREFIX
from shared.api.payments import PaymentIn, ReversalIn
from shared.api.responses import LedgerCheck, Payment, PaymentList

router = APIRouter(prefix=API_PREFIX, tags=["payments"])


@router.post(
    "/invoices/{invoice_id}/payments",
    status_code=201,
    responses={201: {"model": Payment}},
    summary="Post a payment; a repeated Idempotency-Key answers the first result again",
)
async def post_payment(
    invoice_id: PathId,
    body: PaymentIn,
    user: Staff,
    services: Services,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Unique per payment (1 to 200 characters); a retry sends the same one",
        ),
    ] = None,
) -> JSONResponse:
    response = await services.request(
        "payments",
        "POST",
        f"/internal/invoices/{invoice_id}/payments",
        json=body.model_dump(mode="json"),
        headers={"Idempotency-Key": idempotency_key or ""},
    )
    payment = response.json()
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    await record_batched(
        user,
        request,
        "payment.replayed" if replayed else "payment.post",
        invoice_id,
        {"payment_id": payment["payment_id"], "amount": payment["amount"], "key": idempotency_key},
    )
    extra = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(payment, status_code=201, headers=extra)


@router.post(
    "/invoices/{invoice_id}/payments/{payment_id}/reversal",
    status_code=201,
    response_model=Payment,
    summary="Reverse a posting (a mistake, a bounced payment) with a reason",
)
async def reverse_payment(
    invoice_id: PathId,
    payment_id: PathId,
    body: ReversalIn,
    user: Staff,
    services: Services,
    db: Db,
    request: Request,
) -> Any:
    payment = await services.call(
        "payments",
        "POST",
        f"/internal/invoices/{invoice_id}/payments/{payment_id}/reversal",
        json=body.model_dump(),
    )
    await record(
        db,
        user,
        request,
        "payment.reverse",
        invoice_id,
        {"payment_id": payment_id, "amount": payment["amount"], "reason": body.reason},
    )
    return payment


@router.get(
    "/invoices/{invoice_id}/payments",
    response_model=PaymentList,
    summary="An invoice's postings with who posted them, when and from where",
)
async def invoice_payments(invoice_id: PathId, user: Staff, services: Services) -> Any:
    return await services.get("payments", f"/internal/invoices/{invoice_id}/payments")


@router.get(
    "/payments/ledger-check",
    response_model=LedgerCheck,
    summary="Ledger invariants: sums to zero; per invoice amount = payments + balance, >= 0",
)
async def ledger_check(user: Staff, services: Services) -> Any:
    return await services.get("payments", "/internal/ledger/check")


@router.get(
    "/payments/invoice-check",
    summary="The payments service's copy of the invoices against the invoices: every difference",
)
async def invoice_copy_check(user: Staff, services: Services) -> Any:
    return await services.get("invoicing", "/internal/payments-check")


@router.post(
    "/payments/invoice-check/repair",
    summary="Restate the invoices whose copy in the payments service differs (invoice.restated)",
)
async def invoice_copy_repair(user: Admin, services: Services, db: Db, request: Request) -> Any:
    result = await services.call("invoicing", "POST", "/internal/payments-check/repair")
    restated = {"restated": len(result["restated"])}
    await record(db, user, request, "payments.invoice_check.repair", None, restated)
    return result
