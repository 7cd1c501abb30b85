"""Billing details of both parties on the real stack (issue 15): an organization's legal name,
address, tax id and rate or exemption through the gateway, refused in our words when wrong,
audited when changed, and shown with the reseller's on the document and in its e-mail."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.integration.helpers import eventually
from tests.integration.test_notifier import mails_to

pytestmark = pytest.mark.integration

ADDRESS = {
    "line1": "1 Dock Road",
    "line2": "Unit 4",
    "city": "London",
    "postal_code": "E16 2QD",
    "country": "GB",
}


async def refused(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 422, r.text
    return dict(r.json()["error"]["fields"])


async def test_billing_details_from_create_to_the_document_and_the_mail(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    t = uuid.uuid4().hex[:8]
    contact = f"ap-{t}@example.com"
    created = await gateway.post(
        "/api/v1/organizations",
        json={
            "name": f"Harbour Pilots {t}",
            "legal_name": f"Harbour Pilots {t} Ltd",
            "billing_address": ADDRESS,
            "tax_id": "GB123456789",
            "tax_rate": "20",
            "customer_emails": [contact],
        },
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert (org["legal_name"], org["tax_id"], org["tax_rate"]) == (
        f"Harbour Pilots {t} Ltd",
        "GB123456789",
        "20",
    )
    assert org["billing_address"] == {**ADDRESS, "region": None}
    assert org["tax_exempt_reason"] is None
    assert (await gateway.get(f"/api/v1/organizations/{org['id']}")).json() == org
    url = f"/api/v1/organizations/{org['id']}"

    moved = {"line1": "9 Quay St", "city": "Glasgow", "postal_code": "G1 1AA", "country": "GB"}
    patched = await gateway.patch(url, json={"billing_address": moved, "tax_rate": "8.875"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["tax_rate"] == "8.875"
    assert patched.json()["billing_address"] == {**moved, "line2": None, "region": None}

    assert await refused(
        await gateway.post(
            "/api/v1/organizations",
            json={"name": f"Nowhere {t}", "billing_address": {**ADDRESS, "country": "XX"}},
        )
    ) == {
        "billing_address.country": (
            "'XX' is not an ISO 3166-1 alpha-2 country code (such as GB, US or DE)"
        )
    }
    assert await refused(await gateway.patch(url, json={"tax_rate": "100.5"})) == {
        "tax_rate": "must be a percentage from 0 to 100"
    }
    assert await refused(await gateway.patch(url, json={"tax_rate": "8.87501"})) == {
        "tax_rate": "must have at most 4 decimal places"
    }
    both = (
        "an organization has a tax rate or a tax exemption reason, not both"
        " (set tax_rate to null to exempt it)"
    )
    # The organization has a rate: an exemption alone is refused against what is stored.
    assert await refused(
        await gateway.patch(url, json={"tax_exempt_reason": "Reverse charge"})
    ) == {"tax_exempt_reason": both}
    assert (await gateway.get(url)).json()["tax_rate"] == "8.875"  # nothing refused was kept

    exempt = await gateway.patch(
        url, json={"tax_rate": None, "tax_exempt_reason": "Reverse charge"}
    )
    assert exempt.status_code == 200, exempt.text
    assert (exempt.json()["tax_rate"], exempt.json()["tax_exempt_reason"]) == (
        None,
        "Reverse charge",
    )
    audit = (await gateway.get("/api/v1/audit", params={"limit": 100})).json()["items"]
    updates = [
        x for x in audit if x["action"] == "organizations.update" and x["subject"] == org["id"]
    ]
    assert updates[0]["detail"]["before"]["tax_rate"] == "8.875"
    assert updates[0]["detail"]["after"]["tax_exempt_reason"] == "Reverse charge"

    number = await an_invoice(gateway, org["id"], t)
    page = (await gateway.get(f"/api/v1/invoices/{number}/document")).text
    for text in (
        f'<div class="buyer"><strong>Harbour Pilots {t} Ltd</strong></div>',
        "<div>9 Quay St</div>",
        "<div>Glasgow G1 1AA</div>",
        "<div>United Kingdom</div>",
        "<div>Tax ID: GB123456789</div>",
        "<div>Tax exempt: Reverse charge</div>",
        '<div class="name">BillPort Satellite Services</div>',  # the seller, from settings
        "<div>Routing (ABA): 021000021</div>",
        "<td>Overage 2026-10: 70 GB used, 47.42 GB included</td>",
        '<td class="num">22.58 GB over</td>',
    ):
        assert text in page, text
    assert "000000 GB" not in page

    assert (await gateway.post(f"/api/v1/invoices/{number}/approve")).status_code == 200
    sent = await gateway.post(f"/api/v1/invoices/{number}/send", json={"to": "customer"})
    assert sent.status_code == 202, sent.text
    (mail,) = await eventually(lambda: asyncio.to_thread(mails_to, stack, contact), bool)
    (body,) = [p for p in mail.walk() if p.get_content_type() == "text/plain"]
    text = body.get_payload(decode=True).decode().replace("\r\n", "\n")  # SMTP line ends
    assert f"Bill to:\n  Harbour Pilots {t} Ltd\n  9 Quay St\n  Glasgow G1 1AA\n" in text
    assert "  Tax exempt: Reverse charge\n" in text
    assert "From:\n  BillPort Satellite Services\n" in text


async def an_invoice(gateway: httpx.AsyncClient, org_id: str, t: str) -> str:
    """A one-time invoice edited to hold an overage line as an older invoice stored it (GB
    padded to nine decimals in its description)."""
    product = (
        await gateway.post("/api/v1/products", json={"name": f"Dish {t}", "unit_price": "10"})
    ).json()
    order = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org_id,
            "ordered_on": "2026-11-03",
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    assert order.status_code == 201, order.text
    number = str(order.json()["invoice_id"])
    lines: list[dict[str, Any]] = [
        {"type": "PRODUCT", "description": f"Dish {t}", "amount": "10.00", "unit_price": "10"},
        {
            "type": "OVERAGE",
            "description": "Overage 2026-10: 70.000000000 GB used, 47.42 GB included",
            "amount": "2.82",
            "usage_gb": "22.580000000",
        },
    ]
    edited = await gateway.patch(
        f"/api/v1/invoices/{number}", json={"lines": lines, "reason": "usage billed by hand"}
    )
    assert edited.status_code == 200, edited.text
    return number
