"""Payments under contention and crashes: never more than the balance, never lost or doubled,
the payments and invoicing services agreeing, the ledger balanced."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from devstack.stack import Stack
from tests.integration.helpers import eventually
from tests.integration.payments_helpers import (
    figures,
    ledger_balanced,
    one_time_invoice,
    pay,
    payments_view,
    settled,
)

pytestmark = pytest.mark.integration


async def test_200_concurrent_postings_take_exactly_what_fits(gateway: httpx.AsyncClient) -> None:
    number = await one_time_invoice(gateway, "1000.00")
    amounts = [Decimal(i % 13 + 1) * Decimal("1.25") for i in range(200)]  # 1,750.00 in all
    assert sum(amounts) > 1000
    answers = await asyncio.gather(*(pay(gateway, number, str(a)) for a in amounts))

    accepted = [a for a, r in zip(amounts, answers, strict=True) if r.status_code == 201]
    refused = [a for a, r in zip(amounts, answers, strict=True) if r.status_code != 201]
    assert {r.status_code for r in answers} <= {201, 409, 422}, [r.text for r in answers]
    balance = Decimal("1000.00") - sum(accepted, Decimal(0))
    assert balance >= 0 and refused
    # The balance only goes down, so whatever was refused did not fit even at the end.
    assert all(a > balance for a in refused)

    status, amount, _paid, shown_balance = await settled(gateway, number, sum(accepted, Decimal(0)))
    assert (amount, Decimal(shown_balance)) == ("1000.00", balance)
    assert status == ("PAYMENT_DONE" if balance == 0 else "PARTIAL_PAID")
    view = await payments_view(gateway, number)
    assert len(view) == len(accepted) and all(p["status"] == "POSTED" for p in view)
    await ledger_balanced(gateway)


async def test_postings_while_the_invoice_is_edited(gateway: httpx.AsyncClient) -> None:
    number = await one_time_invoice(gateway, "1000.00")

    async def post_many() -> list[int]:
        codes = []
        for _ in range(60):
            codes.append((await pay(gateway, number, "10.00")).status_code)
        return codes

    async def edit_many() -> list[int]:
        codes = []
        for target in [900, 700, 520, 800, 610, 450, 950, 480, 700, 560] * 2:
            r = await gateway.patch(
                f"/api/v1/invoices/{number}",
                json={
                    "lines": [{"type": "PRODUCT", "description": "Kit", "amount": str(target)}],
                    "reason": "renegotiated",
                },
            )
            codes.append(r.status_code)
        return codes

    post_codes, edit_codes = await asyncio.gather(
        asyncio.gather(*(post_many() for _ in range(4))), edit_many()
    )
    assert {c for codes in post_codes for c in codes} <= {201, 409, 422}
    assert {c for c in edit_codes} <= {200, 409, 422} and 200 in edit_codes

    async def agreed() -> tuple[tuple[str, str, str, str], Decimal]:
        live = sum(
            (
                Decimal(p["amount"])
                for p in await payments_view(gateway, number)
                if p["status"] == "POSTED"
            ),
            Decimal(0),
        )
        return await figures(gateway, number), live

    (_status, amount, paid, balance), _live = await eventually(
        agreed, lambda f: Decimal(f[0][2]) == f[1] and f[1] > 0
    )
    assert Decimal(amount) == Decimal(paid) + Decimal(balance) and Decimal(balance) >= 0
    for p in await payments_view(gateway, number):
        if p["status"] == "REVERSED":  # a posting that raced a lowering revision
            assert "revised" in p["reversal_reason"]
    check = await ledger_balanced(gateway)
    assert check["invoices_checked"] >= 1


async def test_restart_payments_and_invoicing_mid_stream(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    invoices = [await one_time_invoice(gateway, "500.00", label="restart ") for _ in range(8)]
    plan = [(inv, f"{n + 1}.00", f"{inv}-{n}") for n in range(12) for inv in invoices]

    async def post_until_answered(invoice_id: str, amount: str, key: str) -> None:
        for _ in range(300):  # the same key each time: a retry never posts twice
            try:
                r = await pay(gateway, invoice_id, amount, key=key)
            except httpx.TransportError:
                r = None
            if r is not None and r.status_code == 201:
                return
            assert r is None or r.status_code in (502, 503), r.text
            await asyncio.sleep(0.1)
        raise AssertionError(f"{key} never posted")

    async def stream(part: list[tuple[str, str, str]]) -> None:
        for step in part:
            await post_until_answered(*step)

    async def crashes() -> None:
        await asyncio.sleep(0.5)
        stack.kill("payments-0")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(stack.restart, "payments-0")
        await asyncio.sleep(0.5)
        stack.kill("invoicing-0")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(stack.restart, "invoicing-0")

    await asyncio.gather(crashes(), *(stream(plan[i::4]) for i in range(4)))
    expected = sum((Decimal(n + 1) for n in range(12)), Decimal(0))  # 78.00 per invoice
    for invoice_id in invoices:
        _, amount, _paid, balance = await settled(gateway, invoice_id, expected, timeout=90)
        assert (amount, balance) == ("500.00", f"{Decimal(500) - expected:.2f}")
        view = await payments_view(gateway, invoice_id)
        assert sorted(Decimal(p["amount"]) for p in view) == [Decimal(n + 1) for n in range(12)]
        detail = (await gateway.get(f"/api/v1/invoices/{invoice_id}")).json()
        assert len(detail["payments"]) == 12
    await ledger_balanced(gateway)
