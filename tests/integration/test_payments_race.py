"""A revision lowering an invoice below payments posted meanwhile (the two raced): the payments
service reverses the newest postings that no longer fit, with balanced entries and the reason.
Run on the payments schema in a transaction that is rolled back, so nothing is published."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from services.payments import ledger, postings
from shared.api.payments import PaymentIn
from shared.events.invoicing import InvoiceGenerated, InvoiceRevised

pytestmark = pytest.mark.integration


async def test_a_lowering_revision_takes_back_what_no_longer_fits(db: Any) -> None:
    number = f"INV-RACE-{uuid.uuid4().hex[:8]}"
    facts = {"invoice_id": number, "org_id": "org_race", "kind": "ONE_TIME", "status": "GENERATED"}
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SET LOCAL search_path TO payments")
            await postings.follow_invoice(
                conn,
                InvoiceGenerated(**facts, revision=1, amount="100", payments="0", balance="100"),
            )
            posted = []
            for amount in ("30", "30", "20"):
                body = PaymentIn(amount=Decimal(amount), received_on="2026-11-20", method="ACH")
                payment, created = await postings.post(
                    conn, number, body, uuid.uuid4().hex, "tok_test", None
                )
                assert created
                posted.append(payment["payment_id"])

            reversals = await postings.follow_invoice(
                conn,
                InvoiceRevised(
                    **facts, revision=2, amount="50", payments="30", balance="20", reason="r"
                ),
            )
            assert [(r.payment_id, r.amount) for r in reversals] == [
                (posted[2], Decimal("20.00")),
                (posted[1], Decimal("30.00")),
            ]
            assert all("revised to 50.00" in r.reason for r in reversals)
            row = await conn.fetchrow(
                "SELECT amount, paid FROM invoices WHERE invoice_id = $1", number
            )
            assert (row["amount"], row["paid"]) == (Decimal("50.00"), Decimal("30.00"))
            mismatches = await conn.fetch(ledger.INVOICE_MISMATCHES, 10)
            assert [m for m in mismatches if m["invoice_id"] == number] == []
            entries = await conn.fetchval(
                "SELECT sum(amount) FROM ledger_entries WHERE invoice_id = $1", number
            )
            assert entries == 0
        finally:
            await tx.rollback()
