"""The consumer watch on the real stack (`shared.consumer_watch`): the payments consumer of
`invoicing.events` is held still (a lock on the table it writes) while an invoice waits for it;
once its group has committed nothing for the stall time (10 s on this stack), the service logs
the stall, counts it and restarts its consumer; the restarted consumer, the lock gone, applies
the invoice and a payment on it is taken."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from devstack.stack import Stack
from tests.faults import load
from tests.integration.helpers import eventually

pytestmark = pytest.mark.faults
TOPIC = "invoicing.events"


async def restarts(url: str) -> float:
    async with httpx.AsyncClient() as plain:
        text = (await plain.get(url + "/metrics")).text
    prefix = f'billport_consumer_restarts_total{{topic="{TOPIC}"}}'
    return sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith(prefix))


async def test_a_stalled_consumer_is_restarted_then_applies_what_waited(
    fault_stack: Stack, client: httpx.AsyncClient
) -> None:
    stack = fault_stack
    payments = stack.config.service_urls("payments")[0]
    before = await restarts(payments)
    holder = await asyncpg.connect(stack.config.dsn)
    try:
        hold = holder.transaction()
        await hold.start()
        await holder.execute("LOCK TABLE payments.invoices IN ACCESS EXCLUSIVE MODE")
        number = (await load.invoices_for(client, "W", 1, contact=False))[0]
        await eventually(lambda: restarts(payments), lambda n: n > before, timeout=120)
        await hold.rollback()
    finally:
        await holder.close()

    r = await load.until_answered(
        client,
        "POST",
        f"/api/v1/invoices/{number}/payments",
        (201,),
        json={"amount": "2.00", "received_on": "2026-11-20", "method": "ACH"},
        headers={"Idempotency-Key": f"watch-{number}"},
    )
    assert r.json()["amount"] == "2.00"
    said = (f"made no progress on {TOPIC}", f"consumer of {TOPIC} restarted")

    async def log() -> str:  # the process's output reaches its file a moment later
        return (stack.config.home / "logs" / "payments-0.log").read_text()

    await eventually(log, lambda text: all(s in text for s in said), timeout=30)
    copy = (await client.get("/api/v1/payments/invoice-check", timeout=300)).json()
    assert copy["consistent"], copy["differences"][:5]
