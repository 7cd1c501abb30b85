"""Credit notes on the Invoices page, in headless Chromium (Debian's, driven by Playwright): the
invoice dialog shows tax, credited and the balance after credits; finance issues a credit note
through its dialog (pre-filled with the lines as they stand after earlier credit notes), sees it
listed, opens and downloads it; an org user sees it but cannot issue one. Figures by hand:
one product at 100.00, taxed at 20 % -> tax 20.00, amount 120.00. Screenshots are kept in
.local/test-artifacts."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from devstack.stack import Stack
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts"


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"web-credit-{name}.png"), full_page=True)


async def downloaded(page: Page, link: Locator) -> tuple[str, bytes]:
    """Click `link`; answers the name and the content of the download it starts."""
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    saved = await download.path()
    return download.suggested_filename, await asyncio.to_thread(Path(saved).read_bytes)


async def token(gateway: httpx.AsyncClient, role: str, org_id: str | None = None) -> str:
    body: dict[str, Any] = {"name": f"web-{role}-{uuid.uuid4().hex[:6]}", "role": role}
    if org_id:
        body["org_id"] = org_id
    r = await gateway.post("/api/v1/tokens", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


async def sent_invoice(gateway: httpx.AsyncClient) -> tuple[str, str]:
    """One product at 100.00 for a new organization taxed at 20 %, approved and sent to its
    customer contact (and delivered: SENT_FOR_PAYMENT); answers (invoice id, org id)."""
    t = uuid.uuid4().hex[:6]
    org = await gateway.post(
        "/api/v1/organizations",
        json={
            "name": f"Web Credit {t}",
            "customer_emails": [f"ap-cn-{t}@example.com"],
            "tax_rate": "20",
            # EN 16931 needs the buyer's legal name and address (for the UBL).
            "legal_name": f"Web Credit {t} Ltd",
            "billing_address": {"line1": "1 Quay Street", "city": "Bristol", "country": "GB"},
        },
    )
    assert org.status_code == 201, org.text
    product = await gateway.post(
        "/api/v1/products", json={"name": f"Terminal {t}", "unit_price": "100.00"}
    )
    order = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org.json()["id"],
            "ordered_on": "2026-11-05",
            "items": [{"product_id": product.json()["id"], "quantity": 1}],
        },
    )
    assert order.status_code == 201, order.text
    number = str(order.json()["invoice_id"])
    assert (await gateway.post(f"/api/v1/invoices/{number}/approve")).status_code == 200
    sent = await gateway.post(f"/api/v1/invoices/{number}/send", json={"to": "customer"})
    assert sent.status_code == 202, sent.text
    await eventually(
        lambda: gateway.get(f"/api/v1/invoices/{number}"),
        lambda r: r.json()["status"] == "SENT_FOR_PAYMENT",
    )
    return number, org.json()["id"]


async def signed_in(
    browser: Browser, stack: Stack, secret: str, org_id: str
) -> tuple[Page, list[str]]:
    """A fresh browser context signed in with `secret`, on the Products (OneTime) tab of the
    organization; answers the page and the list its script errors and CSP refusals go to."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    await page.goto(stack.config.gateway_url + "/")
    await page.fill("#token", secret)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/invoices")
    await expect(page.locator("#who")).not_to_be_empty()  # the page knows who signed in
    await page.click("text=Products (OneTime)")
    picker = page.locator("#org")
    if await picker.is_disabled():  # an org user's: preset to its organization and locked
        await expect(picker).to_have_value(org_id)
    else:
        await page.select_option("#org", org_id)
    return page, errors


async def test_issue_a_credit_note_from_the_page(stack: Stack, gateway: httpx.AsyncClient) -> None:
    number, org_id = await sent_invoice(gateway)
    finance = await token(gateway, "finance")
    customer = await token(gateway, "org_user", org_id)

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page, errors = await signed_in(browser, stack, finance, org_id)
        row = page.locator(f"tr[data-invoice='{number}']")
        cells = row.locator("td")
        await expect(cells.nth(5)).to_have_text("120.00")  # Invoice Amount, tax included
        await expect(cells.nth(7)).to_have_text("120.00")  # Invoice Balance
        await expect(row.locator("[data-action=edit]")).to_have_count(0)  # final: not edited

        # The dialog: tax with its rate, nothing credited yet.
        await row.locator("a[data-action=details]").click()
        detail = page.locator("#dlg-detail")
        await expect(detail.locator("#detail-tax")).to_have_text("20.00 (20 %)")
        await expect(detail.locator("#detail-amount")).to_have_text("120.00")
        await expect(detail.locator("#detail-credited")).to_have_text("0.00")
        await expect(detail.locator("#detail-balance")).to_have_text("120.00")
        await shot(page, "1-details")

        # The invoice's UBL download.
        name, xml = await downloaded(page, detail.locator("button[data-action=ubl]"))
        assert name == f"{number}.xml" and b"<Invoice" in xml and number.encode() in xml

        # Issue a credit note: raising is refused with the API's message, lowering credits.
        await detail.locator("button[data-action=credit]").click()
        credit = page.locator("#dlg-credit")
        amount = credit.locator("input[name=amount]")
        await expect(amount).to_have_value("100.00")
        await amount.fill("130.00")
        await credit.locator("[name=reason]").fill("two terminals returned")
        await credit.locator("#credit-submit").click()
        await expect(credit.locator(".err")).to_contain_text("next invoice")
        await amount.fill("70.00")
        await expect(credit.locator("#credit-net")).to_have_text("30.00")
        await shot(page, "2-credit-dialog")
        await credit.locator("#credit-submit").click()
        await expect(credit).to_be_hidden()
        # 30.00 net + 20 % tax 6.00 = 36.00 credited; 120.00 - 36.00 = 84.00 left.
        await expect(page.locator("#notice")).to_contain_text("of 36.00 issued on " + number)
        await expect(page.locator("#notice")).to_contain_text("balance 84.00")
        notes = detail.locator("#detail-credit-notes tbody tr")
        await expect(notes).to_have_count(1)
        first = await notes.first.get_attribute("data-credit-note")
        assert first and first.startswith("CN-")
        await expect(notes.first.locator("td").nth(2)).to_have_text("two terminals returned")
        await expect(notes.first.locator("td").nth(3)).to_have_text("30.00")
        await expect(notes.first.locator("td").nth(4)).to_have_text("6.00")
        await expect(notes.first.locator("td").nth(5)).to_have_text("36.00")
        await expect(detail.locator("#detail-credited")).to_have_text("36.00")
        await expect(detail.locator("#detail-balance")).to_have_text("84.00")
        await shot(page, "3-credited")

        # Its document view, and its PDF and UBL downloads.
        await notes.first.locator("a[data-action=creditView]").click()
        await expect(page.locator("#doc-title")).to_have_text(f"Credit note {first}")
        frame = page.frame_locator("#doc-frame")
        await expect(frame.locator("body")).to_contain_text(first)
        await expect(frame.locator("body")).to_contain_text("36.00")
        await shot(page, "4-credit-note-view")
        await page.locator("#dlg-doc [data-close]").click()
        name, pdf = await downloaded(page, notes.first.locator("a[data-action=creditPdf]"))
        assert name == f"{first}.pdf" and pdf.startswith(b"%PDF")
        name, cn_xml = await downloaded(page, notes.first.locator("a[data-action=creditUbl]"))
        assert name == f"{first}.xml" and b"<CreditNote" in cn_xml
        assert first.encode() in cn_xml and number.encode() in cn_xml
        await detail.locator("[data-close]").click()

        # The customer sees the invoice and its credit note, and no way to issue one (while
        # the invoice still has 84.00 to credit).
        own, own_errors = await signed_in(browser, stack, customer, org_id)
        own_row = own.locator(f"tr[data-invoice='{number}']")
        await expect(own_row.locator("[data-action=view]")).to_be_visible()
        await expect(own_row.locator("[data-action=credit]")).to_have_count(0)
        await own_row.locator("a[data-action=details]").click()
        own_detail = own.locator("#dlg-detail")
        await expect(own_detail.locator("#detail-credit-notes tbody tr")).to_have_count(1)
        await expect(own_detail.locator(f"tr[data-credit-note='{first}']")).to_contain_text("36.00")
        await expect(own_detail.locator("#detail-credited")).to_have_text("36.00")
        await expect(own_detail.locator("#detail-balance")).to_have_text("84.00")
        await expect(own_detail.locator("[data-action=credit]")).to_have_count(0)
        await own_detail.locator(f"a[data-action=creditView][data-credit-note='{first}']").click()
        await expect(own.frame_locator("#doc-frame").locator("body")).to_contain_text(first)
        await shot(own, "5-org-user")
        await own.context.close()

        # The table row follows; a second credit note from the row's action starts from the
        # line as it stands after the first (70.00) and takes the rest: 70.00 + the last of
        # the tax, 20.00 - 6.00 = 14.00, i.e. 84.00; the invoice is then settled.
        await expect(cells.nth(7)).to_have_text("84.00")
        await expect(row.locator(".status")).to_have_text("SENT_FOR_PAYMENT")
        await row.locator("[data-action=credit]").click()
        await expect(amount).to_have_value("70.00")
        await amount.fill("0.00")
        await credit.locator("[name=reason]").fill("contract cancelled")
        await credit.locator("#credit-submit").click()
        await expect(credit).to_be_hidden()
        await expect(page.locator("#notice")).to_contain_text("of 84.00 issued on " + number)
        await expect(cells.nth(7)).to_have_text("0.00")
        await expect(row.locator(".status")).to_have_text("PAYMENT_DONE")
        await expect(row.locator("[data-action=credit]")).to_be_disabled()
        await shot(page, "6-settled")

        await browser.close()
    assert errors == [] and own_errors == []
