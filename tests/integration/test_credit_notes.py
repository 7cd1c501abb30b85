"""Credit notes on the real stack, figures computed by hand from api.md's rules: a sent invoice
is final; an edit that lowers it issues a credit note (its own gap-free series, tax at the
invoice's rate, the last one takes the last cent of tax), one that raises it is refused; the
balance, the status, the IPT, the ledger and the e-mail follow."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from billport_cli.main import main
from devstack.stack import Stack
from services.invoicing import runs
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.helpers import eventually
from tests.integration.payments_helpers import ledger_balanced, one_time_invoice, pay, settled
from tests.integration.test_notifier import mails_to

pytestmark = pytest.mark.integration


async def sent_invoice(
    gateway: httpx.AsyncClient,
    price: str,
    rate: str | None = None,
    exempt: str | None = None,
    address: bool = True,
) -> tuple[str, str, str]:
    """A ONE_TIME invoice of one product at `price` for a new organization taxed at `rate`,
    approved and sent to its customer contact; answers (invoice id, org id, contact)."""
    t = uuid.uuid4().hex[:8]
    contact = f"ap-{t}@example.com"
    details: dict[str, Any] = {"tax_rate": rate} if rate else {}
    if exempt:
        details = {"tax_exempt_reason": exempt}
    if address:
        details["legal_name"] = f"Credited Shipping {t} Ltd"
        details["billing_address"] = {"line1": "1 Quay St", "city": "Bristol", "country": "GB"}
    org = await gateway.post(
        "/api/v1/organizations",
        json={
            "name": f"Credited {t}",
            "customer_emails": [contact],
            **details,
        },
    )
    assert org.status_code == 201, org.text
    product = await gateway.post(
        "/api/v1/products", json={"name": f"Terminal {t}", "unit_price": price}
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
    return number, org.json()["id"], contact


async def detail(gateway: httpx.AsyncClient, number: str) -> dict[str, Any]:
    r = await gateway.get(f"/api/v1/invoices/{number}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def lowered(
    gateway: httpx.AsyncClient, number: str, amount: str, reason: str = "returned"
) -> httpx.Response:
    """PATCH the invoice with its one product line at `amount`."""
    (line,) = (await detail(gateway, number))["lines"]
    line = {**line, "amount": amount, "unit_price": None if amount.startswith("-") else amount}
    return await gateway.patch(
        f"/api/v1/invoices/{number}", json={"lines": [line], "reason": reason}
    )


def money(invoice: dict[str, Any]) -> tuple[str, str, str, str]:
    return invoice["amount"], invoice["payments_total"], invoice["credited"], invoice["balance"]


async def test_two_credit_notes_up_to_the_amount_then_refusals(
    gateway: httpx.AsyncClient,
) -> None:
    # 100.00 at 20 %: tax 20.00, amount 120.00.
    number, org_id, _ = await sent_invoice(gateway, "100.00", rate="20")
    issued = await detail(gateway, number)
    assert (issued["tax"], issued["amount"], issued["credited"]) == ("20.00", "120.00", "0.00")
    assert "credit_note" in issued["allowed_actions"] and "edit" not in issued["allowed_actions"]
    # A later rate never changes the invoice nor its credit notes.
    await gateway.patch(f"/api/v1/organizations/{org_id}", json={"tax_rate": "10"})

    first = await lowered(gateway, number, "70.00", "two terminals returned")
    assert first.status_code == 200, first.text
    (note,) = first.json()["credit_notes"]
    assert (note["net"], note["tax"], note["amount"]) == ("30.00", "6.00", "36.00")
    assert money(first.json()) == ("120.00", "0.00", "36.00", "84.00")
    assert first.json()["revision"] == issued["revision"]  # the document itself is final
    assert first.json()["lines"] == issued["lines"]

    second = await lowered(gateway, number, "0.00", "contract cancelled")
    assert second.status_code == 200, second.text
    earlier, last = second.json()["credit_notes"]
    assert earlier == note
    assert (last["net"], last["tax"], last["amount"]) == ("70.00", "14.00", "84.00")
    assert money(second.json()) == ("120.00", "0.00", "120.00", "0.00")
    assert second.json()["status"] == "PAYMENT_DONE"
    prefix, n = note["id"].rsplit("-", 1)
    assert last["id"] == f"{prefix}-{int(n) + 1:06d}"  # gap-free, in its own series

    nothing = await lowered(gateway, number, "0.00")
    assert nothing.status_code == 422 and "nothing to credit" in nothing.text
    beyond = await lowered(gateway, number, "-5.00")
    assert beyond.status_code == 422 and "uncredited" in beyond.text
    raised = await lowered(gateway, number, "130.00")
    assert raised.status_code == 422 and "next invoice" in raised.json()["error"]["message"]
    assert money(await detail(gateway, number)) == ("120.00", "0.00", "120.00", "0.00")

    # The refusals took no number: the next credit note anywhere follows on.
    other, _, _ = await sent_invoice(gateway, "10.00")
    nxt = await lowered(gateway, other, "4.00")
    assert nxt.json()["credit_notes"][0]["id"] == f"{prefix}-{int(n) + 2:06d}"

    listed = await gateway.get("/api/v1/credit-notes", params={"invoice_id": number})
    assert [x["id"] for x in listed.json()["items"]] == [note["id"], last["id"]]
    one = (await gateway.get(f"/api/v1/credit-notes/{note['id']}")).json()
    assert (one["invoice_id"], one["reason"], one["tax_rate"]) == (
        number,
        "two terminals returned",
        "20",
    )
    assert [(x["type"], x["amount"]) for x in one["lines"]] == [("PRODUCT", "30.00")]
    by_org = await gateway.get("/api/v1/credit-notes", params={"org_id": org_id})
    assert len(by_org.json()["items"]) == 2
    assert (await gateway.get("/api/v1/credit-notes/CN-209901-000001")).status_code == 404

    text = (await gateway.get(f"/api/v1/invoices/{number}/ipt", params={"format": "csv"})).text
    ipt = list(csv.DictReader(io.StringIO(text)))
    rows = [(r["type"], r["reference"], r["debit"], r["credit"], r["balance"]) for r in ipt]
    assert rows[0] == ("INVOICE", number, "120.00", "", "120.00")
    assert ("CREDIT", note["id"], "", "36.00", "84.00") in rows
    assert rows[-1] == ("CREDIT", last["id"], "", "84.00", "0.00")
    await eventually(lambda: ledger_credited(gateway, number), bool)


async def ledger_credited(gateway: httpx.AsyncClient, number: str) -> bool:
    """The payments service has caught up with the credit notes and its ledger agrees."""
    check = (await gateway.get("/api/v1/payments/ledger-check")).json()
    return bool(check["balanced"])


async def test_a_rate_of_three_decimals_and_the_last_credit_takes_the_last_cent(
    gateway: httpx.AsyncClient,
) -> None:
    # 100.00 at 8.875 %: tax 8.875 -> 8.88; amount 108.88.
    number, _, _ = await sent_invoice(gateway, "100.00", rate="8.875")
    assert money(await detail(gateway, number)) == ("108.88", "0.00", "0.00", "108.88")
    # 30.00 credited: its own tax 30 x 8.875 % = 2.6625 -> 2.66; 32.66 in all.
    first = (await lowered(gateway, number, "70.00")).json()
    assert first["credit_notes"][0]["tax"] == "2.66"
    assert money(first) == ("108.88", "0.00", "32.66", "76.22")
    # The rest: net 70.00 and what is left of the tax, 8.88 - 2.66 = 6.22 (not 6.21).
    rest = (await lowered(gateway, number, "0")).json()
    assert (rest["credit_notes"][1]["tax"], rest["credit_notes"][1]["amount"]) == ("6.22", "76.22")
    assert money(rest) == ("108.88", "0.00", "108.88", "0.00")


async def test_a_payment_then_credit_notes(gateway: httpx.AsyncClient) -> None:
    # Exempt: no tax, and the reason stays on the invoice and its credit notes.
    number, _, _ = await sent_invoice(gateway, "200.00", exempt="Reverse charge")
    assert (await pay(gateway, number, "50.00")).status_code == 201
    status, _, _, balance = await settled(gateway, number, Decimal("50.00"))
    assert (status, balance) == ("PARTIAL_PAID", "150.00")
    before = Decimal((await ledger_balanced(gateway))["credited"])
    credited = (await lowered(gateway, number, "120.00")).json()
    assert credited["credit_notes"][0]["tax"] == "0.00"
    assert money(credited) == ("200.00", "50.00", "80.00", "70.00")
    assert credited["status"] == "PARTIAL_PAID"

    # The payments service follows (its copy of the credit): a payment above the balance is
    # refused with it.
    await eventually(
        lambda: ledger_balanced(gateway),
        lambda check: Decimal(check["credited"]) == before + Decimal("80.00"),
    )
    over = await pay(gateway, number, "70.01")
    assert over.status_code == 422 and "70.00" in over.json()["error"]["message"]
    assert (await pay(gateway, number, "70.00")).status_code == 201
    status, *_ = await settled(gateway, number, Decimal("120.00"))
    assert status == "PAYMENT_DONE"
    # Paid in full, then credited: the customer is owed 30.00 back (a negative balance).
    refund = (await lowered(gateway, number, "90.00")).json()
    assert money(refund) == ("200.00", "120.00", "110.00", "-30.00")
    assert refund["status"] == "PAYMENT_DONE"
    closed = await eventually(lambda: pay(gateway, number, "1.00"), lambda r: "-30.00" in r.text)
    assert closed.status_code == 409
    check = await ledger_balanced(gateway)
    assert Decimal(check["credited"]) >= Decimal("110.00")


async def test_an_invoice_not_sent_is_edited_not_credited(gateway: httpx.AsyncClient) -> None:
    number = await one_time_invoice(gateway, "80", "Draft ")
    edited = (await lowered(gateway, number, "60.00")).json()
    assert (edited["revision"], edited["amount"], edited["credit_notes"]) == (2, "60.00", [])
    r = await gateway.get("/api/v1/credit-notes", params={"invoice_id": number})
    assert r.json()["items"] == []


async def test_the_credit_note_is_mailed_with_its_pdf_and_scoped(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    number, org_id, contact = await sent_invoice(gateway, "50.00", rate="20")
    note = (await lowered(gateway, number, "25.00", "damaged in transit")).json()
    cn = note["credit_notes"][0]["id"]

    def credit_note_mails() -> list[Any]:
        return [m for m in mails_to(stack, contact) if cn in str(m["Subject"])]

    (mail,) = await eventually(lambda: asyncio.to_thread(credit_note_mails), bool, timeout=60)
    (attachment,) = [p for p in mail.walk() if p.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == f"{cn}.pdf"
    assert attachment.get_payload(decode=True).startswith(b"%PDF")
    pdf = await gateway.get(f"/api/v1/credit-notes/{cn}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    ubl = await gateway.get(f"/api/v1/credit-notes/{cn}/ubl")
    assert ubl.status_code == 200, ubl.text
    # Final documents keep the buyer as it was when they became final.
    renamed = await gateway.patch(
        f"/api/v1/organizations/{org_id}", json={"legal_name": "Renamed Afterwards Ltd"}
    )
    assert renamed.status_code == 200, renamed.text
    for path in (f"invoices/{number}/document", f"credit-notes/{cn}/document"):
        page = await gateway.get(f"/api/v1/{path}")
        assert page.status_code == 200, page.text
        assert "Credited Shipping" in page.text and "Renamed Afterwards" not in page.text
        assert page.headers["content-security-policy"].startswith("sandbox;")
    invoice_ubl = await gateway.get(f"/api/v1/invoices/{number}/ubl")
    assert invoice_ubl.status_code == 200 and b"<cbc:ID>" + number.encode() in invoice_ubl.content
    bare, _, _ = await sent_invoice(gateway, "5.00", address=False)
    refused = await gateway.get(f"/api/v1/invoices/{bare}/ubl")
    assert refused.status_code == 409 and "billing address" in refused.json()["error"]["message"]
    assert (
        ubl.status_code == 200 and b"CreditNote" in ubl.content and number.encode() in ubl.content
    )

    token = await gateway.post(
        "/api/v1/tokens", json={"name": f"cn-{cn}", "role": "org_user", "org_id": org_id}
    )
    own = {"Authorization": f"Bearer {token.json()['token']}"}
    mine = await gateway.get(f"/api/v1/credit-notes/{cn}", headers=own)
    assert mine.status_code == 200 and mine.json()["issued_by"] is None
    outsider = await gateway.post(
        "/api/v1/tokens",
        json={
            "name": f"cn-x-{cn}",
            "role": "org_user",
            "org_id": (await sent_invoice(gateway, "1"))[1],
        },
    )
    other = {"Authorization": f"Bearer {outsider.json()['token']}"}
    assert (await gateway.get(f"/api/v1/credit-notes/{cn}", headers=other)).status_code == 404
    assert (await gateway.get(f"/api/v1/credit-notes/{cn}/pdf", headers=other)).status_code == 404
    listed = await gateway.get("/api/v1/credit-notes", headers=other)
    assert listed.json()["items"] == []
    assert (await lowered_as(gateway, number, own)).status_code == 403


async def lowered_as(
    gateway: httpx.AsyncClient, number: str, headers: dict[str, str]
) -> httpx.Response:
    return await gateway.patch(
        f"/api/v1/invoices/{number}", json={"lines": [], "reason": "x"}, headers=headers
    )


async def test_corrections_lowering_a_sent_period_become_credit_notes_when_preferred(
    gateway: httpx.AsyncClient, db: Any
) -> None:
    """The reseller's preference (BILLPORT_INVOICING_CORRECTIONS_AS=credit_note): the run of
    the next period credits the corrected invoice instead of carrying a negative line. The run
    is called as the invoicing service calls it with that setting, on the real database; the
    running services publish and follow its events."""
    t = uuid.uuid4().hex[:8]
    org = await gateway.post(
        "/api/v1/organizations",
        json={"name": f"Corrected {t}", "customer_emails": [f"c-{t}@example.com"]},
    )
    org_id = org.json()["id"]
    plans = [
        (
            await gateway.post(
                "/api/v1/plans",
                json={"name": f"{name} {t}", "monthly_price": price, "allowance_gb": "10",
                      "overage_price_per_gb": "1"},
            )
        ).json()["id"]
        for name, price in (("Wide", "150"), ("Small", "60"))
    ]  # fmt: skip
    numbers = [f"AST-CN-{t}-{i}" for i in range(2)]
    for number, plan_id in zip(numbers, plans, strict=True):
        r = await gateway.post(
            "/api/v1/service-lines",
            json={"service_line_number": number, "name": f"Vessel {number[-1]}",
                  "org_id": org_id, "plan_id": plan_id, "active_from": "2041-02-01"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    r = await gateway.post("/api/v1/billing-runs", json={"period": "2041-03"}, timeout=300)
    assert r.status_code == 200, r.text
    (march,) = (await gateway.get("/api/v1/invoices", params={"org_id": org_id})).json()["items"]
    assert march["amount"] == "210.00"
    await gateway.post(f"/api/v1/invoices/{march['invoice_id']}/approve")
    sent = await gateway.post(
        f"/api/v1/invoices/{march['invoice_id']}/send", json={"to": "customer"}
    )
    assert sent.status_code == 202, sent.text
    ended = await gateway.patch(
        f"/api/v1/service-lines/{numbers[0]}", json={"active_to": "2041-03-10"}
    )
    assert ended.status_code == 200, ended.text

    async with db.acquire() as conn:
        await conn.execute("SET search_path TO invoicing")
        try:
            result = await runs.billing_run(
                conn, "2041-04", window=3, credit_notes_for_corrections=True
            )
        finally:
            await conn.execute("RESET search_path")
    listed = (await gateway.get("/api/v1/invoices", params={"org_id": org_id})).json()["items"]
    (april_id,) = [x["invoice_id"] for x in listed if x["period"] == "2041-04"]
    assert april_id in result["generated"]  # (other tests' lines may bill in 2041-04 too)
    # March billed 150.00 for the ended line; due 150 x 10/31 = 48.387 -> 48.39: 101.61 less.
    credited = await detail(gateway, march["invoice_id"])
    (note,) = credited["credit_notes"]
    assert (note["amount"], note["reason"]) == ("101.61", "Correction 2041-03")
    assert money(credited) == ("210.00", "0.00", "101.61", "108.39")
    one = (await gateway.get(f"/api/v1/credit-notes/{note['id']}")).json()
    (line,) = one["lines"]
    assert line["type"] == "ADJUSTMENT" and line["amount"] == "101.61"
    assert line["description"].startswith("Correction 2041-03:")
    april = await detail(gateway, april_id)
    assert [(x["type"], x["amount"]) for x in april["lines"]] == [("REGULAR", "60.00")]

    # A regenerate under the default preference finds the difference settled: once only.
    r = await gateway.post("/api/v1/invoices/regenerate", json={"period": "2041-04"})
    assert r.status_code == 200, r.text
    again = await detail(gateway, april_id)
    assert [(x["type"], x["amount"]) for x in again["lines"]] == [("REGULAR", "60.00")]
    await eventually(lambda: ledger_credited(gateway, march["invoice_id"]), bool)


async def copy_settled(db: Any, number: str, quiet: float = 1.5) -> None:
    """Wait until the payments service's copy of `number` has not changed for `quiet` seconds:
    an event of the invoice still on its way would otherwise undo the test's tampering."""
    query = "SELECT updated_at FROM payments.invoices WHERE invoice_id = $1"
    seen, since = await db.fetchval(query, number), time.monotonic()
    deadline = since + 30
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, f"the copy of {number} kept changing"
        await asyncio.sleep(0.25)
        now = await db.fetchval(query, number)
        if now != seen:
            seen, since = now, time.monotonic()


async def test_the_payments_copy_is_checked_and_a_lost_credit_is_restated(
    stack: Stack, gateway: httpx.AsyncClient, db: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A credit note's event lost on its way to the payments service (its copy and its ledger
    entries undone by hand): the check shows the difference, the repair restates the invoice,
    and the copy and the ledger agree again."""
    number, _, _ = await sent_invoice(gateway, "100.00", rate="20")
    await lowered(gateway, number, "70.00")  # credit note 36.00, 6.00 of it tax

    async def check() -> dict[str, Any]:
        r = await gateway.get("/api/v1/payments/invoice-check")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def agrees(c: dict[str, Any]) -> bool:
        # Only this test's invoice: other modules leave differences on purpose (settlement
        # publishes payment events the payments service never posted).
        return not any(d["invoice_id"] == number for d in c["differences"])

    await eventually(check, agrees)
    await copy_settled(db, number)
    undone = await db.execute(
        "DELETE FROM payments.ledger_entries WHERE invoice_id = $1 AND txn_id IN ("
        " SELECT txn_id FROM payments.ledger_entries"
        " WHERE invoice_id = $1 AND account = 'revenue' AND amount > 0)",
        number,
    )
    assert undone == "DELETE 3"  # receivable, revenue, tax payable
    await db.execute(
        "UPDATE payments.invoices SET credited = 0, credited_tax = 0 WHERE invoice_id = $1",
        number,
    )
    found = await check()
    assert not found["consistent"]
    assert sorted((d["figure"], d["invoicing"], d["payments"]) for d in found["differences"]
                  if d["invoice_id"] == number) == [
        ("credited", "36.00", "0.00"), ("credited_tax", "6.00", "0.00"),
    ]  # fmt: skip
    finance = await gateway.post(
        "/api/v1/tokens", json={"name": f"fin-{number}", "role": "finance"}
    )
    as_finance = {"Authorization": f"Bearer {finance.json()['token']}"}
    refused = await gateway.post("/api/v1/payments/invoice-check/repair", headers=as_finance)
    assert refused.status_code == 403
    repaired = await gateway.post("/api/v1/payments/invoice-check/repair")
    assert repaired.status_code == 200 and number in repaired.json()["restated"]
    await eventually(check, agrees)
    await ledger_balanced(gateway)
    args = [
        "payments",
        "invoice-check",
        "--gateway",
        stack.config.gateway_url,
        "--token",
        ADMIN_TOKEN,
    ]
    code = await asyncio.to_thread(main, args)
    out = capsys.readouterr().out
    assert "invoices compared" in out and f"DIFFERS {number} " not in out
    # exit 0 exactly when the whole copy agrees, as the last line says
    assert (code == 0) == out.strip().endswith("\nconsistent")
