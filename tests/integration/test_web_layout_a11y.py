"""The Invoices page's layout, accessibility and the customer's own view, in headless Chromium
(Debian's, driven by Playwright):

- from 1,280 px up, the table scrolls inside its frame, the invoice id column sticky, and the
  page itself never scrolls sideways (bounding boxes compared);
- axe-core (the npm package, from node_modules: `npm ci` in scripts/bootstrap.sh) finds no
  serious or critical violation on the sign-in page and the Invoices page (the list, the
  invoice dialog, the credit-note dialog, an org user's list);
- an org user lands on its own organization's invoices, sees no staff control, views and
  downloads its invoices and credit notes, and the page calls nothing the API refuses it
  (every response listened to, route by route); another organization's invoice typed in the
  address shows "not found".

Screenshots (and axe's full findings as JSON) are kept in .local/test-artifacts."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, FloatRect, Page, Response, async_playwright, expect

from devstack.stack import Stack
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.test_web_credit_notes import downloaded, sent_invoice, token

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".local" / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
STAFF_ACTIONS = ("approve", "send", "edit", "credit", "pay")


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"web-{name}.png"), full_page=True)


async def launch(p: Any) -> Browser:
    browser: Browser = await p.chromium.launch(
        executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"]
    )
    return browser


async def signed_in(
    browser: Browser, stack: Stack, secret: str, width: int = 1440
) -> tuple[Page, list[str]]:
    """A fresh context signed in with `secret` on the Invoices page; answers the page and the
    list its script errors and Content-Security-Policy refusals go to."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
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
    await expect(page.locator("#who")).not_to_be_empty()
    return page, errors


async def axe_findings(page: Page, name: str) -> list[str]:
    """Runs axe-core on the page as it stands; keeps a screenshot and every violation found,
    and answers the serious and critical ones. axe is evaluated through the DevTools protocol,
    which the page's CSP does not govern: the page is checked with its real policy on. The
    sandboxed invoice document frame is the notifier's document, not the page: left out."""
    source = await asyncio.to_thread(AXE.read_text)
    await page.evaluate(source)
    result = await page.evaluate(
        "() => axe.run(document, {iframes: false, resultTypes: ['violations']})"
    )
    assert len(result["passes"]) > 10, result  # axe did check the page
    violations = result["violations"]
    await shot(page, f"a11y-{name}")
    (ARTIFACTS / f"web-a11y-{name}.json").write_text(json.dumps(violations, indent=1))
    return [
        f"{name}: {v['id']} ({v['impact']}) {v['help']}: "
        + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


async def new_org(gateway: httpx.AsyncClient, name: str, **extra: Any) -> dict[str, Any]:
    r = await gateway.post(
        "/api/v1/organizations",
        json={"name": name, "customer_emails": [f"ap-{uuid.uuid4().hex[:6]}@example.com"], **extra},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def ordered(gateway: httpx.AsyncClient, org_id: str, price: str = "250.00") -> str:
    """A ONE_TIME invoice of one product for the organization; answers its number."""
    product = await gateway.post(
        "/api/v1/products", json={"name": f"Kit {uuid.uuid4().hex[:6]}", "unit_price": price}
    )
    order = await gateway.post(
        "/api/v1/product-orders",
        json={
            "org_id": org_id,
            "ordered_on": "2026-11-06",
            "items": [{"product_id": product.json()["id"], "quantity": 1}],
        },
    )
    assert order.status_code == 201, order.text
    return str(order.json()["invoice_id"])


async def credited(gateway: httpx.AsyncClient, number: str, amount: str) -> str:
    """Lowers the one product line of a sent invoice to `amount`: a credit note; answers its id."""
    (line,) = (await gateway.get(f"/api/v1/invoices/{number}")).json()["lines"]
    r = await gateway.patch(
        f"/api/v1/invoices/{number}",
        json={"lines": [{**line, "amount": amount, "unit_price": amount}], "reason": "returned"},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["credit_notes"][-1]["id"])


async def box(page: Page, selector: str) -> FloatRect:
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return found


async def test_the_table_scrolls_inside_its_frame(stack: Stack, gateway: httpx.AsyncClient) -> None:
    t = uuid.uuid4().hex[:6]
    # A long name makes the table wider than the page at every width tried (1,920 px included:
    # the page's column is at most 1,800 px), so the scrolling and the sticky column are seen.
    org = await new_org(
        gateway,
        f"Layout {t} North Atlantic Maritime Connectivity, Satellite Backhaul and Offshore"
        " Energy Services Group of Companies (Holdings) Limited",
    )
    numbers = [await ordered(gateway, org["id"]) for _ in range(3)]

    async with async_playwright() as p:
        browser = await launch(p)
        page, errors = await signed_in(browser, stack, ADMIN_TOKEN)
        await page.click("text=Products (OneTime)")
        await page.select_option("#org", org["id"])
        await expect(page.locator("#invoices tbody tr")).to_have_count(3)
        for width in (1280, 1600, 1920):
            await page.set_viewport_size({"width": width, "height": 900})
            frame, main = await box(page, "#table-frame"), await box(page, "main")
            # The frame lies within the page's column, and the page does not scroll sideways.
            assert (
                frame["x"] >= main["x"]
                and frame["x"] + frame["width"] <= main["x"] + main["width"] + 0.5
            ), (width, frame, main)
            page_width = await page.evaluate(
                "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert page_width[0] <= page_width[1] == width, (width, page_width)
            # The table is wider than its frame and scrolls within it.
            sizes = await page.locator("#table-frame").evaluate(
                "f => [f.scrollWidth, f.clientWidth]"
            )
            assert sizes[0] > sizes[1], (width, sizes)
            await page.locator("#table-frame").evaluate("f => { f.scrollLeft = f.scrollWidth; }")
            await page.wait_for_timeout(100)
            # Scrolled to the end: the actions column is inside the frame, and so is the sticky
            # invoice id, still at the frame's left edge (past its 1 px border).
            row = page.locator(f"tr[data-invoice='{numbers[0]}']")
            first = await row.locator("td").first.bounding_box()
            actions = await row.locator("td.icons").bounding_box()
            assert first and actions
            assert abs(first["x"] - (frame["x"] + 1)) <= 1, (width, first, frame)
            assert actions["x"] + actions["width"] <= frame["x"] + frame["width"] + 0.5
            assert actions["x"] > first["x"] + first["width"]  # scrolled, not overlapping
            await expect(row.locator("a[data-action=details]")).to_be_visible()
            await expect(row.locator("a[data-action=details]")).to_have_text(numbers[0])
            # The sticky cell is what is drawn at its place: nothing slides over it.
            hit = await page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y).closest('td')?.parentElement"
                "?.dataset.invoice",
                [first["x"] + 10, first["y"] + first["height"] / 2],
            )
            assert hit == numbers[0]
            await shot(page, f"layout-{width}")
            await page.locator("#table-frame").evaluate("f => { f.scrollLeft = 0; }")
        await browser.close()
    assert errors == []


async def test_no_serious_or_critical_axe_violation(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    number, org_id = await sent_invoice(gateway)
    other = await ordered(gateway, org_id)
    customer = await token(gateway, "org_user", org_id)
    found: list[str] = []

    async with async_playwright() as p:
        browser = await launch(p)
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        login = await context.new_page()
        await login.goto(stack.config.gateway_url + "/")
        found += await axe_findings(login, "login")
        await login.fill("#token", "wrong-token")
        await login.click("button[type=submit]")
        await expect(login.locator("#msg")).not_to_be_empty()
        found += await axe_findings(login, "login-refused")
        await context.close()

        page, errors = await signed_in(browser, stack, ADMIN_TOKEN)
        await page.click("text=Products (OneTime)")
        await page.select_option("#org", org_id)
        row = page.locator(f"tr[data-invoice='{number}']")
        await expect(page.locator(f"tr[data-invoice='{other}']")).to_be_visible()
        found += await axe_findings(page, "invoices")

        await page.click("#toggle-filters")
        await expect(page.locator("#filters")).to_be_visible()
        found += await axe_findings(page, "invoices-filters")

        await row.locator("a[data-action=details]").click()
        await expect(page.locator("#detail-amount")).to_have_text("120.00")
        found += await axe_findings(page, "invoice-dialog")
        await page.locator("#dlg-detail [data-close]").click()

        await row.locator("[data-action=credit]").click()
        await expect(page.locator("#dlg-credit input[name=amount]")).to_have_value("100.00")
        found += await axe_findings(page, "credit-dialog")
        await page.locator("#dlg-credit [data-close]").click()

        # The other dialogs of the page, for good measure.
        for opener, dialog in (
            (row.locator("[data-action=send]"), "#dlg-send"),
            (row.locator("[data-action=pay]"), "#dlg-pay"),
            (page.locator(f"tr[data-invoice='{other}'] [data-action=edit]"), "#dlg-edit"),
            (page.locator("#regenerate"), "#dlg-regen"),
        ):
            await opener.click()
            await expect(page.locator(dialog)).to_be_visible()
            found += await axe_findings(page, dialog.removeprefix("#"))
            await page.locator(f"{dialog} [data-close]").click()
            await expect(page.locator(dialog)).to_be_hidden()

        own, own_errors = await signed_in(browser, stack, customer)
        await own.click("text=Products (OneTime)")
        await expect(own.locator(f"tr[data-invoice='{number}']")).to_be_visible()
        found += await axe_findings(own, "org-user-invoices")
        await browser.close()
    assert found == []
    assert errors == [] and own_errors == []


async def test_an_org_user_sees_its_own_tree_only(stack: Stack, gateway: httpx.AsyncClient) -> None:
    # Its organization (taxed 20 %) with a sent invoice of 120.00 credited 36.00 (30.00 net +
    # 6.00 tax), a sub-organization with an invoice, and another organization's invoice.
    number, org_id = await sent_invoice(gateway)
    note = await credited(gateway, number, "70.00")
    t = uuid.uuid4().hex[:6]
    sub = await new_org(gateway, f"Own Sub {t}", parent_id=org_id)
    sub_invoice = await ordered(gateway, sub["id"], "40.00")
    stranger = await new_org(gateway, f"Stranger {t}")
    foreign = await ordered(gateway, stranger["id"], "999.00")
    customer = await token(gateway, "org_user", org_id)

    async with async_playwright() as p:
        browser = await launch(p)
        page, errors = await signed_in(browser, stack, customer)
        # Every API call the page makes, with its answer.
        calls: list[tuple[str, int]] = []

        def heard(response: Response) -> None:
            if "/api/v1/" in response.url:
                path = response.url.split("/api/v1", 1)[1]
                calls.append((f"{response.request.method} {path}", response.status))

        page.on("response", heard)

        # Landed on its own organization, its tree only in the picker, no staff control.
        picker = page.locator("#org")
        await expect(picker).to_have_value(org_id)
        await expect(picker).to_be_disabled()
        await expect(picker.locator("option")).to_have_count(1)
        await expect(picker.locator("option")).to_contain_text("and its sub-organizations")
        await expect(page.locator("#regenerate")).to_be_hidden()
        await page.click("text=Products (OneTime)")
        rows = page.locator("#invoices tbody tr")
        await expect(rows).to_have_count(2)
        await expect(page.locator(f"tr[data-invoice='{sub_invoice}']")).to_be_visible()
        await expect(page.locator(f"tr[data-invoice='{foreign}']")).to_have_count(0)
        row = page.locator(f"tr[data-invoice='{number}']")
        for action in STAFF_ACTIONS:
            await expect(page.locator(f"#invoices [data-action={action}]")).to_have_count(0)
        for action, label in (
            ("view", "View Invoice"),
            ("download", "Download Invoice"),
            ("ipt", "Export IPTs"),
        ):
            button = row.locator(f"[data-action={action}]")
            await expect(button).to_have_attribute("title", label)
            await expect(button).to_have_attribute("aria-label", f"{label} {number}")
            await expect(button).to_be_enabled()
        await shot(page, "org-user-1-list")

        # View and download its invoice, its IPTs and the report of its invoices.
        await row.locator("[data-action=view]").click()
        await expect(page.frame_locator("#doc-frame").locator("body")).to_contain_text(number)
        await page.locator("#dlg-doc [data-close]").click()
        name, pdf = await downloaded(page, row.locator("[data-action=download]"))
        assert name == f"{number}.pdf" and pdf.startswith(b"%PDF")
        name, _ = await downloaded(page, row.locator("[data-action=ipt]"))
        assert name.startswith(number)
        name, report = await downloaded(page, page.locator("#export-csv"))
        listed = {r["invoice_id"] for r in csv.DictReader(io.StringIO(report.decode("utf-8-sig")))}
        assert {number, sub_invoice} <= listed and foreign not in listed, listed

        # Its invoice's dialog: the credit note listed, viewed, downloaded; nothing to issue one.
        await row.locator("a[data-action=details]").click()
        detail = page.locator("#dlg-detail")
        await expect(detail.locator("#detail-credited")).to_have_text("36.00")
        await expect(detail.locator("#detail-balance")).to_have_text("84.00")
        await expect(detail.locator("[data-action=credit]")).to_have_count(0)
        assert page.url.endswith(f"#invoice={number}")
        await detail.locator(f"a[data-action=creditView][data-credit-note='{note}']").click()
        await expect(page.frame_locator("#doc-frame").locator("body")).to_contain_text(note)
        await shot(page, "org-user-2-credit-note")
        await page.locator("#dlg-doc [data-close]").click()
        name, cn_pdf = await downloaded(page, detail.locator("a[data-action=creditPdf]"))
        assert name == f"{note}.pdf" and cn_pdf.startswith(b"%PDF")
        name, cn_xml = await downloaded(page, detail.locator("a[data-action=creditUbl]"))
        assert name == f"{note}.xml" and b"<CreditNote" in cn_xml
        name, ubl = await downloaded(page, detail.locator("button[data-action=ubl]"))
        assert name == f"{number}.xml" and b"<Invoice" in ubl
        await detail.locator("[data-close]").click()

        # The other tab and the date views.
        await page.click("text=Subscription")
        for view in ("this_month", "as_of_today", "proforma", ""):
            await page.click(f".views button[data-view='{view}']")
            await expect(page.locator(f".views button[data-view='{view}']")).to_have_attribute(
                "aria-pressed", "true"
            )
            await expect(page.locator("#error")).to_be_hidden()

        # Route by route: every call answered, none refused or missing.
        routes = {call.split("?")[0] for call, _ in calls}
        expected = {
            "GET /invoices",
            f"GET /invoices/{number}",
            f"GET /invoices/{number}/document",
            f"GET /invoices/{number}/pdf",
            f"GET /invoices/{number}/ubl",
            f"GET /invoices/{number}/ipt",
            "GET /invoices/report",
            f"GET /credit-notes/{note}/document",
            f"GET /credit-notes/{note}/pdf",
            f"GET /credit-notes/{note}/ubl",
        }
        assert expected <= routes, expected - routes
        refused = [(call, status) for call, status in calls if status >= 400]
        assert refused == []

        # Its own invoice in the address opens; another organization's shows "not found".
        await page.goto(f"{stack.config.gateway_url}/invoices#invoice={sub_invoice}")
        await expect(page.locator("#detail-title")).to_contain_text(sub_invoice)
        await page.locator("#dlg-detail [data-close]").click()
        await expect(page.locator("#dlg-detail")).to_be_hidden()
        await page.evaluate(f"() => {{ location.hash = 'invoice={foreign}'; }}")
        await expect(page.locator("#error")).to_have_text(f"Invoice {foreign} not found.")
        await expect(page.locator("#dlg-detail")).to_be_hidden()
        calls.clear()
        await page.goto("about:blank")
        await page.goto(f"{stack.config.gateway_url}/invoices#invoice={foreign}")
        await expect(page.locator("#error")).to_have_text(f"Invoice {foreign} not found.")
        await expect(page.locator(f"tr[data-invoice='{foreign}']")).to_have_count(0)
        await shot(page, "org-user-3-not-found")
        refused = [(call, status) for call, status in calls if status >= 400]
        assert refused == [(f"GET /invoices/{foreign}", 404)]
        await browser.close()
    assert errors == []


async def test_a_late_answer_to_an_earlier_load_does_not_replace_the_list(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """Seen under load in CI: the whole list asked for first answered after the list of the
    organization chosen next, and replaced it. Here the whole list is held back on purpose."""
    org = await gateway.post("/api/v1/organizations", json={"name": f"Late {uuid.uuid4().hex[:6]}"})
    org_id = org.json()["id"]
    number = await ordered(gateway, org_id)
    elsewhere = await gateway.post("/api/v1/organizations", json={"name": "Elsewhere"})
    await ordered(gateway, elsewhere.json()["id"])  # in the whole list, not in the org's
    async with async_playwright() as p:
        browser = await launch(p)
        page, errors = await signed_in(browser, stack, ADMIN_TOKEN)

        async def hold_the_whole_list(route: Any) -> None:
            if "org_id=" not in route.request.url:
                await asyncio.sleep(2)
            await route.continue_()

        await page.route("**/api/v1/invoices?*", hold_the_whole_list)
        async with page.expect_response(lambda r: "org_id=" not in r.url and "/invoices?" in r.url):
            await page.click("text=Products (OneTime)")  # the whole list, held for 2 s
            await page.select_option("#org", org_id)  # then one organization's, answered at once
        rows = page.locator("#invoices tbody tr[data-invoice]")
        await expect(rows).to_have_count(1)
        await expect(page.locator(f"tr[data-invoice='{number}']")).to_be_visible()
        await browser.close()
    assert errors == []
