"""Invoice documents and e-mail on the real stack: the PDF read back, the HTML view in
Chromium, mail received by a real SMTP server (aiosmtpd), refusals retried or reported, and a
notifier killed mid-send sending each request exactly once."""

from __future__ import annotations

import asyncio
import email
import io
import uuid
from decimal import Decimal
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from devstack.stack import Stack
from shared.documents import CreditNoteDocument, InvoiceDocument
from shared.events.notifier import InvoiceSendRequested
from shared.events.topics import NOTIFIER_COMMANDS
from tests.einvoice_rules import cii_problems
from tests.integration.helpers import eventually, produce
from tests.unit.test_facturx_pdf import PDFAID, facturx_parts

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts"


def lines_of_every_kind(count: int = 30) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for n in range(count):
        kind = ("REGULAR", "OVERAGE", "ADJUSTMENT", "USAGE_INFO")[n % 4]
        amount = "0.00" if kind == "USAGE_INFO" else f"{(n + 1) * 13}.{n:02d}"
        line: dict[str, Any] = {
            "type": kind,
            "description": f"{kind.title()} item {n:02d}",
            "amount": amount,
            "service_line_number": f"AST-{n:06d}-00000-01",
            "service_line_name": f"Vessel {n:02d}",
        }
        if kind in ("OVERAGE", "USAGE_INFO"):
            line["usage_gb"] = f"{n}.125"
        lines.append(line)
    return lines


async def invoice_for(
    gateway: httpx.AsyncClient, customers: list[str], finance: list[str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """An organization with these contacts and an invoice of 30 lines of every kind."""
    t = uuid.uuid4().hex[:8]
    org = (
        await gateway.post(
            "/api/v1/organizations",
            json={
                "name": f"Mariner Fleet {t}",
                "customer_emails": customers,
                "finance_emails": finance or [f"finance-{t}@example.com"],
            },
        )
    ).json()
    product = (
        await gateway.post("/api/v1/products", json={"name": f"Kit {t}", "unit_price": "10"})
    ).json()
    order = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org["id"],
            "ordered_on": "2026-11-03",
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    number = str(order.json()["invoice_id"])
    lines = lines_of_every_kind()
    edited = await gateway.patch(
        f"/api/v1/invoices/{number}", json={"lines": lines, "reason": "the whole contract"}
    )
    assert edited.status_code == 200, edited.text
    return number, lines


def mails(stack: Stack) -> list[Message]:
    folder = stack.config.home / "mail"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def mails_to(stack: Stack, address: str) -> list[Message]:
    return [m for m in mails(stack) if address in m["X-Envelope-To"]]


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_pdf_shows_the_number_every_line_and_the_totals(
    gateway: httpx.AsyncClient, db: Any
) -> None:
    number, lines = await invoice_for(gateway, ["ap@example.com"])
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    r = await gateway.get(f"/api/v1/invoices/{number}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert f'filename="{number}.pdf"' in r.headers["content-disposition"]
    text = pdf_text(r.content)
    assert len(PdfReader(io.BytesIO(r.content)).pages) >= 2
    assert number in text and detail["org_name"] in text
    for line in lines:
        assert line["description"] in text and line["amount"] in text
    for key in ("regular_charges", "additional_charges", "amount", "balance"):
        assert f"{Decimal(detail[key]):,.2f}" in text  # 4,592.30
    expected = sum((Decimal(x["amount"]) for x in lines), Decimal(0))
    assert Decimal(detail["amount"]) == expected

    again = await gateway.get(f"/api/v1/invoices/{number}/pdf")
    assert again.content == r.content  # kept, not rendered anew
    kept = await db.fetchval(
        "SELECT count(*) FROM notifier.documents WHERE invoice_id = $1", number
    )
    assert kept == 1

    await gateway.patch(
        f"/api/v1/invoices/{number}",
        json={
            "lines": [{"type": "ADJUSTMENT", "description": "Settled", "amount": "99.00"}],
            "reason": "settlement",
        },
    )
    revised = pdf_text((await gateway.get(f"/api/v1/invoices/{number}/pdf")).content)
    assert "Settled" in revised and "Regular item 00" not in revised
    assert (
        await db.fetchval("SELECT count(*) FROM notifier.documents WHERE invoice_id = $1", number)
        == 2
    )


async def test_the_html_view_in_chromium(gateway: httpx.AsyncClient) -> None:
    from playwright.async_api import async_playwright

    number, lines = await invoice_for(gateway, ["ap@example.com"])
    r = await gateway.get(f"/api/v1/invoices/{number}/document")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert number in r.text and all(x["description"] in r.text for x in lines)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.set_content(r.text)
        assert number in await page.inner_text(".title")
        shot = ARTIFACTS / "invoice-document.png"
        await page.screenshot(path=str(shot), full_page=True)
        await browser.close()
    assert shot.stat().st_size > 10_000


async def test_an_org_user_reads_only_its_own_documents(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """The invoicing service checks the scope of the user's credential before it has the
    document rendered: another organization's invoice does not exist for the user (404)."""
    mine, _ = await invoice_for(gateway, ["ap@example.com"])
    theirs, _ = await invoice_for(gateway, ["ap@example.com"])
    org_id = (await gateway.get(f"/api/v1/invoices/{mine}")).json()["org_id"]
    made = await gateway.post(
        "/api/v1/tokens", json={"name": "reader", "role": "org_user", "org_id": org_id}
    )
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url,
        headers={"Authorization": f"Bearer {made.json()['token']}"},
        timeout=30,
    ) as user:
        for what in ("document", "pdf"):
            own = await user.get(f"/api/v1/invoices/{mine}/{what}")
            assert own.status_code == 200, own.text
            other = await user.get(f"/api/v1/invoices/{theirs}/{what}")
            assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
        page = (await user.get(f"/api/v1/invoices/{mine}/document")).text
        assert mine in page and theirs not in page
    notifier = stack.config.service_urls("notifier")[0]
    async with httpx.AsyncClient(timeout=10) as plain:  # the renderer takes no unsigned call
        direct = await plain.post(notifier + "/internal/documents/html", json={})
        assert direct.status_code == 401


async def test_send_to_chosen_customers_then_to_finance(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    t = uuid.uuid4().hex[:6]
    chosen, other = f"ap-{t}@example.com", f"ceo-{t}@example.com"
    number, _ = await invoice_for(gateway, [chosen, other], [f"books-{t}@example.com"])
    url = f"/api/v1/invoices/{number}/send"

    refused = await gateway.post(url, json={"to": "customer", "emails": [chosen]})
    assert refused.status_code == 409 and "approve" in refused.json()["error"]["message"]
    await gateway.post(f"/api/v1/invoices/{number}/approve")
    stranger = await gateway.post(url, json={"to": "customer", "emails": ["x@example.com"]})
    assert stranger.status_code == 422 and "emails" in stranger.json()["error"]["fields"]

    accepted = await gateway.post(url, json={"to": "customer", "emails": [chosen]})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["recipients"] == [chosen]
    (mail,) = await eventually(lambda: asyncio.to_thread(mails_to, stack, chosen), bool)
    assert other not in mail["X-Envelope-To"]
    assert number in mail["Subject"]
    request_id = accepted.json()["request_id"]
    assert mail["Message-ID"] == f"<{request_id}@billport.local>"
    (attachment,) = [p for p in mail.walk() if p.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == f"{number}.pdf"
    assert number in pdf_text(attachment.get_payload(decode=True))

    async def shown() -> dict[str, Any]:
        return dict((await gateway.get(f"/api/v1/invoices/{number}")).json())

    detail = await eventually(shown, lambda d: d["sent"])
    assert detail["status"] == "SENT_FOR_PAYMENT" and detail["sent_to"] == [chosen]
    assert detail["sends"][0]["state"] == "SENT"
    assert detail["sends"][0]["message_id"] == mail["Message-ID"]

    finance = await gateway.post(url, json={"to": "finance"})
    assert finance.json()["recipients"] == [f"books-{t}@example.com"]
    await eventually(lambda: asyncio.to_thread(mails_to, stack, f"books-{t}@"), bool)


async def test_refusals_are_retried_or_reported(stack: Stack, gateway: httpx.AsyncClient) -> None:
    t = uuid.uuid4().hex[:6]
    flaky, refusing = f"flaky-{t}@example.com", f"refuse-{t}@example.com"
    first, _ = await invoice_for(gateway, [flaky])
    second, _ = await invoice_for(gateway, [refusing])
    for number in (first, second):
        await gateway.post(f"/api/v1/invoices/{number}/approve")
        r = await gateway.post(f"/api/v1/invoices/{number}/send", json={"to": "customer"})
        assert r.status_code == 202

    async def sends(number: str) -> list[dict[str, Any]]:
        return list((await gateway.get(f"/api/v1/invoices/{number}")).json()["sends"])

    (done,) = await eventually(lambda: sends(first), lambda s: s[0]["state"] != "REQUESTED")
    assert done["state"] == "SENT"
    assert len(mails_to(stack, flaky)) == 1  # refused twice (451), taken on the third try
    (failed,) = await eventually(lambda: sends(second), lambda s: s[0]["state"] != "REQUESTED")
    assert failed["state"] == "FAILED" and "550" in failed["error"]
    detail = (await gateway.get(f"/api/v1/invoices/{second}")).json()
    assert "550" in detail["last_send_error"] and detail["status"] == "GENERATED"
    assert mails_to(stack, refusing) == []


async def test_a_notifier_killed_mid_send_sends_each_request_once(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    t = uuid.uuid4().hex[:6]
    invoices = []
    for n in range(6):
        number, _ = await invoice_for(gateway, [f"slow-{t}-{n}@example.com"])
        await gateway.post(f"/api/v1/invoices/{number}/approve")
        invoices.append(number)
    requests = []
    for number in invoices:
        r = await gateway.post(f"/api/v1/invoices/{number}/send", json={"to": "customer"})
        requests.append(r.json()["request_id"])
    await asyncio.sleep(1.5)  # rendered, and waiting for the (slow) server's answer
    stack.kill("notifier-0")
    await asyncio.to_thread(stack.restart, "notifier-0")

    async def delivered() -> list[str]:
        found = await asyncio.to_thread(mails, stack)
        return [m["Message-ID"] for m in found if f"slow-{t}-" in m["X-Envelope-To"]]

    ids = await eventually(delivered, lambda d: len(d) >= len(requests), timeout=60)
    await asyncio.sleep(3)  # anything doubled would have arrived by now
    ids = await delivered()
    assert sorted(ids) == sorted(f"<{r}@billport.local>" for r in requests)
    for number in invoices:
        detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
        assert [s["state"] for s in detail["sends"]] == ["SENT"]


async def test_overdue_invoices_are_reminded_once_per_interval(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    t = uuid.uuid4().hex[:6]
    contact = f"late-{t}@example.com"
    org = (
        await gateway.post(
            "/api/v1/organizations",
            json={"name": f"Late Payer {t}", "customer_emails": [contact]},
        )
    ).json()
    product = (
        await gateway.post("/api/v1/products", json={"name": f"Dish {t}", "unit_price": "80"})
    ).json()
    order = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org["id"],
            "ordered_on": "2026-08-01",
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    number = order.json()["invoice_id"]
    await gateway.post(f"/api/v1/invoices/{number}/approve")
    await gateway.post(f"/api/v1/invoices/{number}/send", json={"to": "customer"})
    await eventually(lambda: asyncio.to_thread(mails_to, stack, contact), bool)

    first = (await gateway.post("/api/v1/reminders/run")).json()
    assert number in first["reminded"]
    again = (await gateway.post("/api/v1/reminders/run")).json()
    assert number not in again["reminded"]  # at most once per interval

    found = await eventually(
        lambda: asyncio.to_thread(mails_to, stack, contact), lambda m: len(m) == 2
    )
    subjects = sorted(m["Subject"] for m in found)
    assert subjects[0].startswith(f"Invoice {number}")
    assert subjects[1].startswith(f"Reminder: invoice {number} was payable on")
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    assert [s["purpose"] for s in detail["sends"]] == ["invoice", "reminder"]


async def taxed_invoice(gateway: httpx.AsyncClient, contact: str) -> dict[str, Any]:
    """An organization with billing details (20% tax) and a one-time invoice of 2 x 61.25."""
    t = uuid.uuid4().hex[:8]
    org = await gateway.post(
        "/api/v1/organizations",
        json={
            "name": f"Harbour Pilots {t}",
            "legal_name": f"Harbour Pilots {t} Ltd",
            "billing_address": {"line1": "9 Quay St", "city": "Glasgow", "postal_code": "G1 1AA",
                                "country": "GB"},
            "tax_id": "GB123456789",
            "tax_rate": "20",
            "customer_emails": [contact],
        },
    )  # fmt: skip
    assert org.status_code == 201, org.text
    product = await gateway.post(
        "/api/v1/products", json={"name": f"Flat dish {t}", "unit_price": "61.25"}
    )
    order = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org.json()["id"],
            "ordered_on": "2026-11-03",
            "items": [{"product_id": product.json()["id"], "quantity": 2}],
        },
    )
    assert order.status_code in (200, 201), order.text
    number = order.json()["invoice_id"]
    detail = dict((await gateway.get(f"/api/v1/invoices/{number}")).json())
    detail["buyer"] = {
        "legal_name": f"Harbour Pilots {t} Ltd",
        "address": {"line1": "9 Quay St", "city": "Glasgow", "postal_code": "G1 1AA",
                    "country": "GB"},
        "tax_id": "GB123456789",
    }  # fmt: skip
    return detail


async def test_the_pdf_download_is_pdf_a_3_with_its_factur_x(gateway: httpx.AsyncClient) -> None:
    detail = await taxed_invoice(gateway, "ap@example.com")
    # 2 x 61.25 = 122.50; 20% = 24.50; 147.00 in all
    assert (detail["tax"], detail["amount"]) == ("24.50", "147.00")
    r = await gateway.get(f"/api/v1/invoices/{detail['invoice_id']}/pdf")
    assert r.status_code == 200, r.text
    xml, _, xmp = facturx_parts(r.content)
    assert xmp.findtext(f".//{{{PDFAID}}}part") == "3"
    assert cii_problems(xml) == []
    for figure in (
        "<ram:TaxBasisTotalAmount>122.50<",
        "<ram:GrandTotalAmount>147.00<",
        f"<ram:ID>{detail['invoice_id']}</ram:ID>",
        "<ram:CountryID>GB<",
    ):
        assert figure.encode() in xml, figure  # fmt: skip
    assert "147.00" in pdf_text(r.content)


async def test_a_credit_note_is_mailed_with_its_pdf(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    contact = f"credit-{uuid.uuid4().hex[:6]}@example.com"
    detail = await taxed_invoice(gateway, contact)
    number = detail["invoice_id"]
    # 61.25 credited at 20% = 12.25 tax: 73.50; the invoice's balance 147.00 - 73.50 = 73.50
    note = CreditNoteDocument.model_validate(
        {
            "id": f"CN-202611-{uuid.uuid4().int % 10**6:06d}",
            "invoice_id": number,
            "invoice_issued_on": detail["issued_on"],
            "org_id": detail["org_id"],
            "org_name": detail["org_name"],
            "issued_on": "2026-11-20",
            "reason": "One dish returned",
            "lines": [{"type": "PRODUCT", "description": "Flat dish returned", "amount": "61.25",
                       "quantity": "1", "unit_price": "61.25"}],
            "net": "61.25",
            "tax": "12.25",
            "tax_rate": "20",
            "amount": "73.50",
            "buyer": detail["buyer"],
        }
    )  # fmt: skip
    invoice = InvoiceDocument.model_validate(
        {**detail, "credited": "73.50", "balance": "73.50",
         "credit_notes": [{"id": note.id, "issued_on": "2026-11-20", "reason": note.reason,
                           "amount": "73.50"}]}
    )  # fmt: skip
    request = InvoiceSendRequested(
        request_id=f"req-{uuid.uuid4().hex}",
        invoice_id=number,
        purpose="credit_note",
        to="customer",
        recipients=[contact],
        requested_by="test",
        document=invoice,
        credit_note=note,
    )
    await produce(
        stack.config.bootstrap, NOTIFIER_COMMANDS.name, [(number.encode(), request.to_json())]
    )
    (mail,) = await eventually(lambda: asyncio.to_thread(mails_to, stack, contact), bool)
    assert mail["Subject"].startswith(f"Credit note {note.id}")
    (attachment,) = [p for p in mail.walk() if p.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == f"{note.id}.pdf"
    pdf = attachment.get_payload(decode=True)
    assert isinstance(pdf, bytes)
    text = pdf_text(pdf)
    assert f"Credit note {note.id}" in text and f"for invoice {number}" in text
    assert "73.50" in text and "One dish returned" in text
    xml, _, _ = facturx_parts(pdf)
    assert cii_problems(xml) == []
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml
    assert f"<ram:IssuerAssignedID>{number}<".encode() in xml
