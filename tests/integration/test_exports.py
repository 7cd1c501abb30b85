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


async def test_hostile_names_stay_text_and_credits_stay_numbers(gateway: httpx.AsyncClient) -> None:
    """An organization named like a formula, with control characters: the CSV cell is quoted
    out of formula reach, the XLSX opens and holds the name as text, a credit stays a number."""
    tag = uuid.uuid4().hex[:6]
    name = f'=HYPERLINK("http://x","y") \x01\x1b\x0b{tag}'
    created = await gateway.post("/api/v1/organizations", json={"name": name})
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["name"] == name
    number = await order(gateway, org["id"], "100.00")
    reason = "goodwill\x01=1+1"
    edited = await gateway.patch(
        f"/api/v1/invoices/{number}",
        json={
            "lines": [
                {"type": "PRODUCT", "description": "Kit", "amount": "100.00"},
                {"type": "ADJUSTMENT", "description": "Goodwill credit", "amount": "-12.50"},
            ],
            "reason": reason,
        },
    )
    assert edited.status_code == 200, edited.text
    base = f"/api/v1/invoices/report?kind=one_time&org_id={org['id']}"

    r = await gateway.get(base + "&format=csv")
    assert r.status_code == 200, r.text
    [row] = rows_of(r.content)
    assert row["invoice_id"] == number
    assert row["org_name"] == "'" + name
    assert (row["regular_charges"], row["additional_charges"], row["amount"]) == (
        "100.00",
        "-12.50",
        "87.50",
    )

    r = await gateway.get(base + "&format=xlsx")
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))
    assert sheet.max_row == 2
    # XlsxWriter escapes each control character as _xHHHH_; openpyxl reads the escape as is.
    assert cells["org_name"].data_type == "s"
    assert cells["org_name"].value == f'=HYPERLINK("http://x","y") _x0001__x001B__x000B_{tag}'
    credit = cells["additional_charges"]
    assert credit.data_type == "n" and credit.value == Decimal("-12.5")
    assert credit.number_format == "0.00"
    assert cells["amount"].value == Decimal("87.5") and cells["invoice_id"].value == number

    # The edit's reason is free text too, carried into the IPT's description.
    ipt = rows_of((await gateway.get(f"/api/v1/invoices/{number}/ipt?format=csv")).content)
    [revision] = [x for x in ipt if x["type"] == "REVISION"]
    assert revision["description"] == "Revision 2: goodwill\x01=1+1"
    assert (revision["debit"], revision["credit"]) == ("", "12.50")
    r = await gateway.get(f"/api/v1/invoices/{number}/ipt?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    descriptions = [c.value for c in sheet["D"]]
    assert "Revision 2: goodwill_x0001_=1+1" in descriptions
