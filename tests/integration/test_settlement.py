"""The invoice's status machine driven by events from the payments service and the notifier,
on the real broker: each event once, status and balance following the money."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from shared.events.notifier import InvoiceSent
from shared.events.payments import PaymentPosted, PaymentReversed
from tests.integration.helpers import eventually, produce, read_topic

pytestmark = pytest.mark.integration


async def test_payments_and_sending_move_status_and_balance(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    t = uuid.uuid4().hex[:8]
    org = (await gateway.post("/api/v1/organizations", json={"name": f"Payer {t}"})).json()
    product = (
        await gateway.post("/api/v1/products", json={"name": f"Dish {t}", "unit_price": "100"})
    ).json()
    invoice = (
        await gateway.post(
            "/api/v1/product-orders",
            json={
                "org_id": org["id"],
                "ordered_on": "2026-11-05",
                "items": [{"product_id": product["id"], "quantity": 1}],
            },
        )
    ).json()
    number = invoice["invoice_id"]

    async def state() -> tuple[str, str, str, bool]:
        d = (await gateway.get(f"/api/v1/invoices/{number}")).json()
        return d["status"], d["payments_total"], d["balance"], d["sent"]

    async def publish(topic: str, event: Any) -> None:
        await produce(stack.config.bootstrap, topic, [(number.encode(), event.to_json())])

    first = PaymentPosted(
        payment_id=f"pay_{t}_1",
        invoice_id=number,
        amount="40",
        received_on="2026-11-06",
        method="ACH",
        posted_by="tok_x",
    )
    await publish("payments.events", first)
    await publish("payments.events", first)  # delivered twice: applied once
    assert await eventually(state, lambda s: s[0] == "PARTIAL_PAID") == (
        "PARTIAL_PAID",
        "40.00",
        "60.00",
        False,
    )

    await publish(
        "notifier.events",
        InvoiceSent(
            request_id="r1",
            invoice_id=number,
            recipients=["ap@example.com"],
            message_id="<m1@billport>",
        ),
    )
    await eventually(state, lambda s: s[3] is True)
    assert (await state())[0] == "PARTIAL_PAID"  # sent after a payment: still partly paid

    rest = PaymentPosted(
        payment_id=f"pay_{t}_2",
        invoice_id=number,
        amount="60",
        received_on="2026-11-07",
        method="WIRE",
        posted_by="tok_x",
    )
    await publish("payments.events", rest)
    assert await eventually(state, lambda s: s[0] == "PAYMENT_DONE") == (
        "PAYMENT_DONE",
        "100.00",
        "0.00",
        True,
    )
    refused = await gateway.patch(
        f"/api/v1/invoices/{number}",
        json={"lines": [{"type": "PRODUCT", "description": "x", "amount": "100"}], "reason": "r"},
    )
    assert refused.status_code == 409

    await publish(
        "payments.events",
        PaymentReversed(
            payment_id=f"pay_{t}_2",
            invoice_id=number,
            amount="60",
            reason="bounced",
            reversed_by="tok_x",
        ),
    )
    assert await eventually(state, lambda s: s[0] == "PARTIAL_PAID") == (
        "PARTIAL_PAID",
        "40.00",
        "60.00",
        True,
    )
    detail = (await gateway.get(f"/api/v1/invoices/{number}")).json()
    assert [(p["amount"], p["reversed"]) for p in detail["payments"]] == [
        ("40.00", False),
        ("60.00", True),
    ]
    assert detail["sent_to"] == ["ap@example.com"]

    too_much = PaymentPosted(
        payment_id=f"pay_{t}_3",
        invoice_id=number,
        amount="500",
        received_on="2026-11-08",
        method="CARD",
        posted_by="tok_x",
    )
    await publish("payments.events", too_much)

    # More than the balance (only a revision racing a posting does that): kept, not applied.
    async def third() -> list[dict[str, Any]]:
        d = (await gateway.get(f"/api/v1/invoices/{number}")).json()
        return [p for p in d["payments"] if p["payment_id"] == f"pay_{t}_3"]

    (kept,) = await eventually(third, lambda p: len(p) == 1)
    assert kept["applied"] is False and kept["amount"] == "500.00"
    assert (await state())[1:3] == ("40.00", "60.00")
    await publish(
        "payments.events",
        PaymentReversed(
            payment_id=f"pay_{t}_3",
            invoice_id=number,
            amount="500",
            reason="not applied",
            reversed_by="system",
        ),
    )
    await eventually(third, lambda p: p[0]["reversed"] is True)
    assert (await state())[:3] == ("PARTIAL_PAID", "40.00", "60.00")
    changes = [
        json.loads(r.value) for r in await read_topic(stack.config.bootstrap, "invoicing.events")
    ]
    statuses = [
        c["status"]
        for c in changes
        if c["invoice_id"] == number and c["type"] == "invoice.status_changed"
    ]
    assert statuses == ["PARTIAL_PAID", "PAYMENT_DONE", "PARTIAL_PAID"]
