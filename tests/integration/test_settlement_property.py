"""Property (hypothesis), on the real PostgreSQL: postings applied as one batch (two
statements, `settlement.payments_posted`), some of them delivered twice in it, leave the
invoices, the postings and the status events exactly as the same postings applied once each,
one at a time, in the same order; and the figures follow
the written rule: a posting is applied only while it fits (payments + posting <= amount), the
invoice's payments are the sum of the applied ones and its balance the amount less them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.stack import Stack
from services.invoicing import settlement
from shared.events.payments import PaymentPosted
from tests.integration.conftest import ADMIN_TOKEN

pytestmark = pytest.mark.integration

PRICES = ("100", "100", "250")
_invoices: list[tuple[str, Decimal]] = []


def invoices_of(stack: Stack) -> list[tuple[str, Decimal]]:
    """Three fresh one-time invoices (100, 100 and 250, no tax), made once for the module."""
    if _invoices:
        return _invoices
    t = uuid.uuid4().hex[:8]
    with httpx.Client(
        base_url=stack.config.gateway_url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ) as client:
        org = client.post("/api/v1/organizations", json={"name": f"Batch payer {t}"}).json()
        for n, price in enumerate(PRICES):
            product = client.post(
                "/api/v1/products", json={"name": f"Batch kit {t} {n}", "unit_price": price}
            ).json()
            order = client.post(
                "/api/v1/product-orders",
                json={
                    "org_id": org["id"],
                    "ordered_on": "2026-11-02",
                    "items": [{"product_id": product["id"], "quantity": 1}],
                },
            ).json()
            _invoices.append((order["invoice_id"], Decimal(price)))
    return _invoices


posting = st.tuples(
    st.integers(0, len(PRICES) - 1), st.decimals(min_value=1, max_value=150, places=2)
)


async def state(conn: asyncpg.Connection, ids: list[str], tag: str) -> Any:
    invoices = await conn.fetch(
        "SELECT invoice_id, payments, balance, status, sent FROM invoices"
        " WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id",
        ids,
    )
    postings = await conn.fetch(
        "SELECT payment_id, invoice_id, amount, applied FROM invoice_payments"
        " WHERE payment_id LIKE $1 ORDER BY seq",
        f"pay_{tag}_%",
    )
    return [tuple(r.values()) for r in invoices], [tuple(r.values()) for r in postings]


def facts(events: list[Any]) -> list[dict[str, Any]]:
    return [e.model_dump(mode="json", exclude={"event_id", "occurred_at"}) for e in events]


async def batch_and_singles(
    dsn: str,
    ids: list[str],
    events: list[PaymentPosted],
    batch_events: list[PaymentPosted],
    tag: str,
) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET search_path TO invoicing")
        outer = conn.transaction()
        await outer.start()
        try:
            batch = conn.transaction()
            await batch.start()
            batch_out = await settlement.apply_all(conn, list(batch_events))
            batch_state = await state(conn, ids, tag)
            await batch.rollback()
            singles_out = []
            for e in events:
                singles_out += await settlement.apply_all(conn, [e])
            singles_state = await state(conn, ids, tag)
        finally:
            await outer.rollback()  # the invoices stay as they were for the next example
    finally:
        await conn.close()
    return (facts(batch_out), batch_state), (facts(singles_out), singles_state)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=st.lists(posting, min_size=1, max_size=12), replays=st.lists(st.integers(0, 11)))
def test_a_batch_of_postings_equals_the_postings_one_at_a_time(
    stack: Stack, drawn: list[tuple[int, Decimal]], replays: list[int]
) -> None:
    """The batch also holds replays (a posting delivered again in the same fetch, right after
    itself): applied once, as its claim counts it once."""
    invoices = invoices_of(stack)
    tag = uuid.uuid4().hex[:8]
    events = [
        PaymentPosted(
            payment_id=f"pay_{tag}_{n}",
            invoice_id=invoices[which][0],
            org_id="org_x",
            amount=amount,
            received_on=date(2026, 11, 20),
            method="ACH",
            posted_by="tok_prop",
        )
        for n, (which, amount) in enumerate(drawn)
    ]
    again = {n % len(events) for n in replays}
    batch_events = [x for n, e in enumerate(events) for x in ([e, e] if n in again else [e])]
    ids = sorted({i for i, _ in invoices})
    batch, singles = asyncio.run(
        batch_and_singles(stack.config.dsn, ids, events, batch_events, tag)
    )
    assert batch == singles
    # the written rule, by hand: applied while it fits, payments = sum applied
    paid = {i: Decimal(0) for i, _ in invoices}
    expected = []
    for (which, amount), e in zip(drawn, events, strict=True):
        invoice_id, total = invoices[which]
        fits = paid[invoice_id] + amount <= total
        if fits:
            paid[invoice_id] += amount
        expected.append((e.payment_id, invoice_id, amount, fits))
    invoice_rows, posting_rows = batch[1]
    assert posting_rows == expected
    assert {r[0]: (r[1], r[2]) for r in invoice_rows} == {
        i: (paid[i], total - paid[i]) for i, total in invoices
    }
