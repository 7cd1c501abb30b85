"""Payment routes: post a payment exactly once (Idempotency-Key), reverse one, list an
invoice's postings, and check the ledger. Finance staff and admins only."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.gateway.audit import record
from services.gateway.deps import Db, PathId, Services, Staff
from shared.api.payments import PaymentIn, ReversalIn
from shared.api.responses import LedgerCheck, Payment, PaymentList
from shared.errors import TransientError
from shared.internal_client import ServiceError

router = APIRouter(tags=["payments"])
NEW_INVOICE_WAIT = 5.0  # seconds: the payments service learns of a new invoice from its event


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
    db: Db,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Unique per payment (1 to 200 characters); a retry sends the same one",
        ),
    ] = None,
) -> JSONResponse:
    headers = {"Idempotency-Key": idempotency_key or ""}
    response = await _post_when_known(services, invoice_id, body, headers)
    payment = response.json()
    replayed = response.headers.get("Idempotent-Replayed") == "true"
    await record(
        db,
        user,
        request,
        "payment.replayed" if replayed else "payment.post",
        invoice_id,
        {"payment_id": payment["payment_id"], "amount": payment["amount"], "key": idempotency_key},
    )
    extra = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(payment, status_code=201, headers=extra)


async def _post_when_known(
    services: Services, invoice_id: PathId, body: PaymentIn, headers: dict[str, str]
) -> Any:
    """Post; when the payments service does not know the invoice yet but the invoicing service
    does (an invoice created a moment ago), wait for its event rather than refuse."""
    deadline = time.monotonic() + NEW_INVOICE_WAIT
    exists = False
    while True:
        try:
            return await services.request(
                "payments",
                "POST",
                f"/internal/invoices/{invoice_id}/payments",
                json=body.model_dump(mode="json"),
                headers=headers,
            )
        except ServiceError as exc:
            if exc.http_status != 404:
                raise
            if not exists:
                await services.get("invoicing", f"/internal/invoices/{invoice_id}")  # 404 if none
                exists = True
            if time.monotonic() > deadline:
                raise TransientError(
                    f"invoice {invoice_id} is not yet known to the payments service; retry"
                    " with the same Idempotency-Key"
                ) from None
            await asyncio.sleep(0.1)


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
    try:
        return await services.get("payments", f"/internal/invoices/{invoice_id}/payments")
    except ServiceError as exc:
        if exc.http_status != 404:
            raise
    await services.get("invoicing", f"/internal/invoices/{invoice_id}")  # 404 if there is none
    return {"items": [], "next_cursor": None}  # just created: no posting can exist yet


@router.get(
    "/payments/ledger-check",
    response_model=LedgerCheck,
    summary="Ledger invariants: sums to zero; per invoice amount = payments + balance, >= 0",
)
async def ledger_check(user: Staff, services: Services) -> Any:
    return await services.get("payments", "/internal/ledger/check")
