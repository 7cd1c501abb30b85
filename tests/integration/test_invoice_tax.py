"""Tax on invoices on the real stack: the organization's rate (set by SQL until the billing
details API lands) is fixed on the invoice when it is generated; the amount, the list's totals,
the report, the IPT, the document and the payments ledger carry it."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from tests.integration.helpers import eventually
from tests.integration.payments_helpers import ledger_balanced, pay, settled

pytestmark = pytest.mark.integration


async def created(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def organization(
    db: Any, gateway: httpx.AsyncClient, rate: str | None, exempt: str | None
) -> dict[str, Any]:
    org = await created(gateway, "organizations", {"name": f"Taxed {uuid.uuid4().hex[:8]}"})
    await set_tax(db, org["id"], rate, exempt)
    return org


async def set_tax(db: Any, org_id: str, rate: str | None, exempt: str | None = None) -> None:
    await db.execute(
        "UPDATE invoicing.organizations SET tax_rate = $2, tax_exempt_reason = $3 WHERE id = $1",
        org_id,
        Decimal(rate) if rate is not None else None,
        exempt,
    )


def taxes(invoice: dict[str, Any]) -> tuple[str, str, str | None, str | None, str]:
    return (
        invoice["regular_charges"],
        invoice["tax"],
        invoice["tax_rate"],
        invoice["tax_exempt_reason"],
        invoice["amount"],
    )


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_a_run_fixes_the_rate_and_the_ledger_books_tax_payable(
    gateway: httpx.AsyncClient, db: Any
) -> None:
    org = await organization(db, gateway, "20", None)
    t = uuid.uuid4().hex[:8]
    plan = await created(
        gateway,
        "plans",
        {
            "name": f"Taxed plan {t}",
            "monthly_price": "1918.25",
            "allowance_gb": "50",
            "overage_price_per_gb": "2",
        },
    )
    await created(
        gateway,
        "service-lines",
        {
            "service_line_number": f"AST-{t}",
            "name": "Vessel",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": "2026-11-01",
        },
    )
    run = await gateway.post("/api/v1/billing-runs", json={"period": "2026-11"})
    assert run.status_code == 200, run.text
    [invoice] = (await gateway.get("/api/v1/invoices", params={"org_id": org["id"]})).json()[
        "items"
    ]
    number = invoice["invoice_id"]
    # 1,918.25 x 20 / 100 = 383.65; amount 1,918.25 + 383.65 = 2,301.90
    assert taxes(invoice) == ("1918.25", "383.65", "20", None, "2301.90")

    await set_tax(db, org["id"], "8.875")
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    assert taxes(detail) == ("1918.25", "383.65", "20", None, "2301.90"), "rate fixed at issue"

    # A GENERATED, unapproved invoice is recomputed with the rate now in force:
    # 1,918.25 x 8.875 / 100 = 170.2446875 -> 170.24; amount 2,088.49.
    regenerated = await gateway.post(
        "/api/v1/invoices/regenerate", json={"period": "2026-11", "org_id": org["id"]}
    )
    assert regenerated.status_code == 200, regenerated.text
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    assert taxes(detail) == ("1918.25", "170.24", "8.875", None, "2088.49")

    assert (await gateway.post(f"/api/v1/invoices/{number}/approve")).status_code == 200
    await set_tax(db, org["id"], "20")
    skipped = (
        await gateway.post(
            "/api/v1/invoices/regenerate", json={"period": "2026-11", "org_id": org["id"]}
        )
    ).json()
    assert [s["invoice_id"] for s in skipped["skipped"]] == [number]
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    assert taxes(detail) == ("1918.25", "170.24", "8.875", None, "2088.49"), "approved: kept"

    listed = (await gateway.get("/api/v1/invoices", params={"org_id": org["id"]})).json()
    assert listed["totals"] == {"invoiced": "2088.49", "balance": "2088.49"}

    text = pdf_text((await gateway.get(f"/api/v1/invoices/{number}/pdf")).content)
    assert "Tax (8.875%)" in text and "170.24" in text

    assert (await pay(gateway, number, "2088.49")).status_code == 201
    status, amount, paid, balance = await settled(gateway, number, Decimal("2088.49"))
    assert (status, amount, paid, balance) == ("PAYMENT_DONE", "2088.49", "2088.49", "0.00")
    await ledger_balanced(gateway)

    async def accounts() -> dict[str, Decimal]:
        rows = await db.fetch(
            "SELECT account, sum(amount) AS total FROM payments.ledger_entries"
            " WHERE invoice_id = $1 GROUP BY account",
            number,
        )
        return {r["account"]: r["total"] for r in rows}

    # Issued 2,301.90 (383.65 tax), revised by -213.41 (-213.41 tax), paid 2,088.49:
    # revenue -1,918.25, tax payable -170.24, cash +2,088.49, receivable 0.
    booked = await eventually(accounts, lambda a: a.get("cash") == Decimal("2088.49"))
    assert booked == {
        "revenue": Decimal("-1918.25"),
        "tax_payable": Decimal("-170.24"),
        "cash": Decimal("2088.49"),
        "receivable": Decimal("0.00"),
    }

    report = await gateway.get(
        "/api/v1/invoices/report", params={"org_id": org["id"], "format": "csv"}
    )
    [row] = list(csv.DictReader(io.StringIO(report.content.decode())))
    assert (row["tax"], row["tax_rate"], row["amount"]) == ("170.24", "8.875", "2088.49")

    ipt = await gateway.get(f"/api/v1/invoices/{number}/ipt", params={"format": "csv"})
    moves = [
        (r["type"], r["debit"], r["credit"], r["balance"])
        for r in csv.DictReader(io.StringIO(ipt.content.decode()))
    ]
    # In date order: issued 2026-11-01, paid 2026-11-20, the regeneration dated today.
    assert moves == [
        ("INVOICE", "2301.90", "", "2301.90"),
        ("PAYMENT", "", "2088.49", "213.41"),
        ("REVISION", "", "213.41", "0.00"),
    ]


async def test_product_orders_are_taxed_and_exempt_ones_carry_the_reason(
    gateway: httpx.AsyncClient, db: Any
) -> None:
    taxed = await organization(db, gateway, "8.875", None)
    exempt = await organization(db, gateway, None, "Reverse charge: Art. 196 VAT Directive")
    plain = await organization(db, gateway, None, None)
    product = await created(
        gateway, "products", {"name": f"Dish {uuid.uuid4().hex[:6]}", "unit_price": "1234.56"}
    )

    async def order(org: dict[str, Any]) -> dict[str, Any]:
        return await created(
            gateway,
            "product-orders",
            {
                "org_id": org["id"],
                "ordered_on": "2026-11-05",
                "items": [{"product_id": product["id"], "quantity": 1}],
            },
        )

    # 1,234.56 x 8.875 / 100 = 109.5672 -> 109.57; amount 1,344.13
    assert taxes(await order(taxed)) == ("1234.56", "109.57", "8.875", None, "1344.13")
    reason = "Reverse charge: Art. 196 VAT Directive"
    on_exempt = await order(exempt)
    assert taxes(on_exempt) == ("1234.56", "0.00", None, reason, "1234.56")
    assert taxes(await order(plain)) == ("1234.56", "0.00", None, None, "1234.56")

    text = pdf_text((await gateway.get(f"/api/v1/invoices/{on_exempt['invoice_id']}/pdf")).content)
    assert "Tax exempt" in text and "Art. 196" in text
