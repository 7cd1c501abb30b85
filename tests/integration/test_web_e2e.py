"""The Invoices page end to end in headless Chromium (Debian's, driven by Playwright): sign in,
pick the tab and organization, filter, approve, send (the mail arrives), post a payment and see
the status and balance change. Screenshots are kept in .local/test-artifacts."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from devstack.stack import Stack
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.helpers import eventually
from tests.integration.test_notifier import mails_to

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts"


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


async def test_sign_in_filter_approve_send_and_pay(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    t = uuid.uuid4().hex[:6]
    contact = f"ap-web-{t}@example.com"
    org = (
        await gateway.post(
            "/api/v1/organizations",
            json={"name": f"Web Fleet {t}", "customer_emails": [contact, f"cfo-{t}@example.com"]},
        )
    ).json()
    product = (
        await gateway.post("/api/v1/products", json={"name": f"Router {t}", "unit_price": "250"})
    ).json()
    numbers = []
    for _ in range(2):
        r = await gateway.post(
            "/api/v1/product-orders",
            json={
                "org_id": org["id"],
                "ordered_on": "2026-11-04",
                "items": [{"product_id": product["id"], "quantity": 2}],
            },
        )
        numbers.append(r.json()["invoice_id"])
    number = numbers[0]

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
        )
        page = await browser.new_page(viewport={"width": 1440, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(stack.config.gateway_url + "/")
        await page.fill("#token", "wrong-token")
        await page.click("button[type=submit]")
        await expect(page.locator("#msg")).to_contain_text(
            "the token is unknown, revoked or expired"
        )
        await page.fill("#token", ADMIN_TOKEN)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/invoices")

        await page.click("text=Products (OneTime)")
        await page.select_option("#org", org["id"])
        row = page.locator(f"tr[data-invoice='{number}']")
        await expect(row).to_be_visible()
        await expect(page.locator("#invoices tbody tr")).to_have_count(2)
        await expect(page.locator("#total-invoiced")).to_have_text("1,000.00")
        await expect(page.locator("#count-generated")).to_have_text("2")

        await page.click("#toggle-filters")
        await page.fill("#filters [name=invoice_id]", number)
        await page.click("#filters button[type=submit]")
        await expect(page.locator("#invoices tbody tr")).to_have_count(1)
        await expect(page.locator("#total-invoiced")).to_have_text("500.00")
        await shot(page, "1-filtered")

        approve = row.locator("[data-action=approve]")
        await expect(approve).to_have_attribute("title", "Approve Invoice")
        await expect(row.locator("[data-action=send]")).to_be_disabled()  # approved first
        await approve.click()
        # The seed's approved state: its own icon, labelled, no longer an action.
        await expect(approve).to_have_attribute("data-state", "approved")
        await expect(approve).to_have_attribute("aria-label", f"Approved {number}")
        await expect(approve.locator("use")).to_have_attribute("href", "#i-circle-check-filled")
        await expect(approve).to_be_disabled()

        await row.locator("[data-action=send]").click()
        dialog = page.locator("#dlg-send")
        await expect(dialog).to_be_visible()
        await dialog.locator(f"input[value='cfo-{t}@example.com']").uncheck()
        await shot(page, "2-send-dialog")
        await dialog.locator("#send-submit").click()
        await expect(page.locator("#notice")).to_contain_text(contact)
        mail = await eventually(lambda: asyncio.to_thread(mails_to, stack, contact), bool)
        assert number in mail[0]["Subject"] and f"cfo-{t}" not in mail[0]["X-Envelope-To"]

        async def status_is(text: str) -> None:
            for _ in range(40):
                await page.click("#filters button[type=submit]")  # reload with the filters
                if await row.locator(".status").text_content() == text:
                    return
                await page.wait_for_timeout(250)
            raise AssertionError(f"status never became {text}")

        await status_is("SENT_FOR_PAYMENT")
        send = row.locator("[data-action=send]")
        await expect(send).to_have_attribute("data-state", "sent")
        await expect(send.locator("use")).to_have_attribute("href", "#i-mail-check")
        await row.locator("[data-action=pay]").click()
        pay = page.locator("#dlg-pay")
        await pay.locator("[name=amount]").fill("600.00")
        await pay.locator("#pay-submit").click()
        await expect(pay.locator(".err")).to_contain_text("balance 500.00")
        await pay.locator("[name=amount]").fill("200.00")
        await pay.locator("[name=reference]").fill("wire 42")
        await pay.locator("#pay-submit").click()
        await expect(page.locator("#notice")).to_contain_text("balance 300.00")
        await status_is("PARTIAL_PAID")
        cells = row.locator("td")
        await expect(cells.nth(6)).to_have_text("200.00")
        await expect(cells.nth(7)).to_have_text("300.00")
        await expect(page.locator("#total-balance")).to_have_text("300.00")
        await shot(page, "3-paid")

        await row.locator("a[data-action=details]").click()
        await expect(page.locator("#detail-body")).to_contain_text("wire 42")
        await shot(page, "4-details")
        await browser.close()
    assert errors == []
