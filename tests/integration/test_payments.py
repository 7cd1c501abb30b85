"""Payments through the gateway on the real stack: exactly once per Idempotency-Key, refused
with clear errors, reversed with a reason, and a ledger that balances."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from shared.api.responses import InvoiceDetail
from tests.integration.helpers import eventually
from tests.integration.payments_helpers import (
    ledger_balanced,
    one_time_invoice,
    pay,
    payments_view,
    settled,
)

pytestmark = pytest.mark.integration


async def test_post_replay_refuse_and_reverse(gateway: httpx.AsyncClient) -> None:
    number = await one_time_invoice(gateway, "100.00")

    first = await pay(gateway, number, "40", key="k-" + number, reference="wire 7781")
    assert first.status_code == 201, first.text
    posted = first.json()
    assert (posted["amount"], posted["status"], posted["balance_after"]) == (
        "40.00",
        "POSTED",
        "60.00",
    )
    assert posted["posted_by"] and posted["client_addr"] == "127.0.0.1" and posted["posted_at"]

    again = await pay(gateway, number, "40.00", key="k-" + number, reference="wire 7781")
    assert again.status_code == 201 and again.json() == posted  # the first result, nothing new
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await pay(gateway, number, "41", key="k-" + number, reference="wire 7781")
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]["fields"]

    assert await settled(gateway, number, Decimal(40)) == (
        "PARTIAL_PAID",
        "100.00",
        "40.00",
        "60.00",
    )
    too_much = await pay(gateway, number, "60.01")
    assert too_much.status_code == 422
    assert "balance 60.00" in too_much.json()["error"]["message"]
    assert too_much.json()["error"]["fields"] == {"amount": "must not exceed the balance 60.00"}

    rest = (await pay(gateway, number, "60")).json()
    assert await settled(gateway, number, Decimal(100)) == (
        "PAYMENT_DONE",
        "100.00",
        "100.00",
        "0.00",
    )
    done = await pay(gateway, number, "0.01")
    assert done.status_code == 409 and "PAYMENT_DONE" in done.json()["error"]["message"]

    url = f"/api/v1/invoices/{number}/payments/{rest['payment_id']}/reversal"
    reversed_ = await gateway.post(url, json={"reason": "cheque bounced"})
    assert reversed_.status_code == 201, reversed_.text
    assert reversed_.json()["status"] == "REVERSED"
    assert reversed_.json()["reversal_reason"] == "cheque bounced"
    twice = await gateway.post(url, json={"reason": "cheque bounced"})
    assert twice.status_code == 409
    assert await settled(gateway, number, Decimal(40)) == (
        "PARTIAL_PAID",
        "100.00",
        "40.00",
        "60.00",
    )
    view = await payments_view(gateway, number)
    assert [(p["amount"], p["status"]) for p in view] == [
        ("40.00", "POSTED"),
        ("60.00", "REVERSED"),
    ]
    await ledger_balanced(gateway)
    await the_detail_lists_the_postings(gateway, number, posted, rest)


async def the_detail_lists_the_postings(
    gateway: httpx.AsyncClient, number: str, first: dict[str, Any], second: dict[str, Any]
) -> None:
    """The detail's postings as api.md lists them, in order, through the gateway that passes
    the invoicing service's answer on as it came: every field `InvoiceDetail` declares is
    there, and validating it changes nothing."""
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    assert set(InvoiceDetail.model_fields) <= set(detail)
    assert InvoiceDetail.model_validate(detail).model_dump(mode="json") == detail
    posting = {"received_on": "2026-11-20", "method": "WIRE", "note": None, "applied": True}
    assert detail["payments"] == [
        {
            **posting,
            "payment_id": first["payment_id"],
            "amount": "40.00",
            "reference": "wire 7781",
            "posted_by": first["posted_by"],
            "reversed": False,
            "reversal_reason": None,
        },
        {
            **posting,
            "payment_id": second["payment_id"],
            "amount": "60.00",
            "reference": None,
            "posted_by": second["posted_by"],
            "reversed": True,
            "reversal_reason": "cheque bounced",
        },
    ]
    assert detail["payments_total"] == "40.00"


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        ({"amount": "0", "received_on": "2026-11-20", "method": "ACH"}, True, 422, "amount"),
        ({"amount": "1.005", "received_on": "2026-11-20", "method": "ACH"}, True, 422, "amount"),
        ({"amount": "5", "received_on": "2026-11-20", "method": "GOLD"}, True, 422, "method"),
        ({"amount": "5", "received_on": "someday", "method": "ACH"}, True, 422, "received_on"),
        (
            {"amount": "5", "received_on": "2026-11-20", "method": "ACH"},
            False,
            400,
            "Idempotency-Key",
        ),
    ],
)
async def test_bad_postings_are_refused_with_the_field(
    gateway: httpx.AsyncClient, body: dict[str, str], headers: bool, status: int, field: str
) -> None:
    number = await one_time_invoice(gateway, "10.00")
    sent = {"Idempotency-Key": uuid.uuid4().hex} if headers else {}
    r = await gateway.post(f"/api/v1/invoices/{number}/payments", json=body, headers=sent)
    assert r.status_code == status, r.text
    assert field in str(r.json()["error"].get("fields", {}))
    assert await payments_view(gateway, number) == []


async def test_unknown_invoice_and_roles(stack: Stack, gateway: httpx.AsyncClient) -> None:
    missing = await pay(gateway, "INV-209901-999999", "5")
    assert missing.status_code == 404
    number = await one_time_invoice(gateway, "10.00")
    org_id = (await gateway.get(f"/api/v1/invoices/{number}")).json()["org_id"]
    tokens = {}
    for role in ("finance", "org_user", "feed"):
        scope = {"org_id": org_id} if role == "org_user" else {}
        made = await gateway.post("/api/v1/tokens", json={"name": role, "role": role, **scope})
        tokens[role] = made.json()["token"]
    for role, status in (("finance", 201), ("org_user", 403), ("feed", 403)):
        async with httpx.AsyncClient(
            base_url=stack.config.gateway_url,
            headers={"Authorization": f"Bearer {tokens[role]}"},
        ) as client:
            r = await pay(client, number, "1")
            assert r.status_code == status, (role, r.text)
            check = await client.get("/api/v1/payments/ledger-check")
            assert check.status_code == (200 if role == "finance" else 403)


async def test_the_check_command_reports_a_balanced_ledger(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    from billport_cli.main import main
    from tests.integration.conftest import ADMIN_TOKEN

    args = ["payments", "check", "--gateway", stack.config.gateway_url, "--token", ADMIN_TOKEN]
    assert await asyncio.to_thread(main, args) == 0
    out = capsys.readouterr().out
    assert "ledger total 0.00" in out and out.strip().endswith("balanced")


async def test_a_payment_right_after_its_invoice_waits_in_the_payments_service(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """Posted the moment the order answers, before the payments service may have read the
    invoice's event: the payments service waits for its own consumer group (the gateway makes
    one call, tests/unit/test_gateway_one_call.py) and the posting succeeds."""
    for _ in range(5):
        number = await one_time_invoice(gateway, "50.00", label="fresh ")
        r = await pay(gateway, number, "50")
        assert r.status_code == 201, r.text
        assert r.json()["balance_after"] == "0.00"
    fresh = await one_time_invoice(gateway, "20.00", label="fresh ")
    assert await payments_view(gateway, fresh) == []

    # Most likely unknown at first: the invoice is made while the payments service is down,
    # and the payment is posted as soon as it listens again, often before its consumer has
    # caught up.
    payments_url = stack.config.service_urls("payments")[0]
    restarting = asyncio.create_task(asyncio.to_thread(stack.restart, "payments-0"))

    async def listening() -> bool:
        try:
            async with httpx.AsyncClient(timeout=1) as plain:
                await plain.get(payments_url + "/healthz")
        except httpx.TransportError:
            return False
        return True

    await eventually(listening, lambda up: not up, timeout=20)
    late = await one_time_invoice(gateway, "75.00", label="late ")
    await restarting
    r = await pay(gateway, late, "75", key="late-" + late)
    assert r.status_code == 201, r.text
    assert (r.json()["invoice_id"], r.json()["amount"]) == (late, "75.00")
    # (Whether its consumer had caught up by then is a race: the log says "known after
    # waiting" when it had not; the outcome must be the same either way.)
    again = await pay(gateway, late, "75", key="late-" + late)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await settled(gateway, late, Decimal(75)) == ("PAYMENT_DONE", "75.00", "75.00", "0.00")
    await ledger_balanced(gateway)
