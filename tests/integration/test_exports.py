"""The IPT export of an invoice and the Export Invoice Report, through the gateway."""

from __future__ import annotations

import csv
import io
import uuid
from decimal import Decimal

import httpx
import openpyxl
import pytest

from devstack.stack import Stack
from tests.integration.payments_helpers import pay, settled

pytestmark = pytest.mark.integration


async def order(gateway: httpx.AsyncClient, org_id: str, price: str) -> str:
    product = (
        await gateway.post(
            "/api/v1/products", json={"name": f"Item {uuid.uuid4().hex[:6]}", "unit_price": price}
        )
    ).json()
    r = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org_id,
            "ordered_on": "2026-11-05",
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    return str(r.json()["invoice_id"])


def rows_of(csv_bytes: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_bytes.decode())))


async def test_ipt_lists_every_movement_with_a_running_balance(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    org = (await gateway.post("/api/v1/organizations", json={"name": "IPT Co"})).json()
    number = await order(gateway, org["id"], "100.00")
    await gateway.patch(
        f"/api/v1/invoices/{number}",
        json={
            "lines": [{"type": "PRODUCT", "description": "Kit", "amount": "120"}],
            "reason": "price update",
        },
    )
    first = (await pay(gateway, number, "50")).json()
    await settled(gateway, number, Decimal(50))
    await gateway.post(
        f"/api/v1/invoices/{number}/payments/{first['payment_id']}/reversal",
        json={"reason": "bounced"},
    )
    await settled(gateway, number, Decimal(0))
    await pay(gateway, number, "30")
    _, _, _, balance = await settled(gateway, number, Decimal(30))

    r = await gateway.get(f"/api/v1/invoices/{number}/ipt?format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = rows_of(r.content)
    assert sorted(x["type"] for x in rows) == [
        "INVOICE",
        "PAYMENT",
        "PAYMENT",
        "REVERSAL",
        "REVISION",
    ]
    running = Decimal(0)
    for row in rows:
        running += Decimal(row["debit"] or 0) - Decimal(row["credit"] or 0)
        assert Decimal(row["balance"]) == running
    assert rows[-1]["balance"] == balance == "90.00"
    assert rows[0] == {
        "posted_on": "2026-11-05",
        "type": "INVOICE",
        "reference": number,
        "description": "Invoice issued",
        "debit": "100.00",
        "credit": "",
        "balance": "100.00",
    }

    book = openpyxl.load_workbook(
        io.BytesIO((await gateway.get(f"/api/v1/invoices/{number}/ipt?format=xlsx")).content)
    )
    assert book.active.max_row == len(rows) + 1

    other = (await gateway.post("/api/v1/organizations", json={"name": "Elsewhere"})).json()
    token = (
        await gateway.post(
            "/api/v1/tokens", json={"name": "o", "role": "org_user", "org_id": other["id"]}
        )
    ).json()["token"]
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as outsider:
        assert (await outsider.get(f"/api/v1/invoices/{number}/ipt")).status_code == 404


async def test_report_honours_the_filters_in_csv_and_xlsx(gateway: httpx.AsyncClient) -> None:
    org = (await gateway.post("/api/v1/organizations", json={"name": "Report Co"})).json()
    small = await order(gateway, org["id"], "10.00")
    large = await order(gateway, org["id"], "1000.00")
    base = f"/api/v1/invoices/report?kind=one_time&org_id={org['id']}"

    r = await gateway.get(base + "&format=csv")
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    rows = rows_of(r.content)
    assert [x["invoice_id"] for x in rows] == sorted([small, large])
    assert {x["org_name"] for x in rows} == {"Report Co"}
    assert [x["amount"] for x in rows] == ["10.00", "1000.00"]

    filtered = rows_of((await gateway.get(base + "&min_amount=100&format=csv")).content)
    assert [x["invoice_id"] for x in filtered] == [large]

    book = openpyxl.load_workbook(io.BytesIO((await gateway.get(base + "&format=xlsx")).content))
    values = list(book.active.iter_rows(values_only=True))
    assert values[0][0] == "invoice_id" and [v[0] for v in values[1:]] == [small, large]
    bad = await gateway.get(base + "&format=pdf")
    assert bad.status_code == 422
