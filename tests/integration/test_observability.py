"""Observability on the real stack: every service's /metrics carries the consumer and producer
figures, and one correlation id follows a payment from the request to the events it causes."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from tests.integration.helpers import eventually, read_topic
from tests.integration.payments_helpers import one_time_invoice, settled

pytestmark = pytest.mark.integration
FIGURES = (
    "billport_consumed_total",
    "billport_produced_total",
    "billport_failed_total",
    "billport_dead_lettered_total",
    "billport_partition_lag",
    "billport_processing_seconds",
)


async def test_a_correlation_id_follows_a_payment_across_services(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    number = await one_time_invoice(gateway, "80.00")
    cid = f"corr-{uuid.uuid4().hex[:10]}"
    r = await gateway.post(
        f"/api/v1/invoices/{number}/payments",
        json={"amount": "80", "received_on": "2026-11-20", "method": "ACH"},
        headers={"Idempotency-Key": uuid.uuid4().hex, "X-Correlation-ID": cid},
    )
    assert r.status_code == 201 and r.headers["X-Correlation-ID"] == cid
    await settled(gateway, number, Decimal(80))

    async def carried(topic: str) -> list[dict[str, object]]:
        events = [json.loads(x.value) for x in await read_topic(stack.config.bootstrap, topic)]
        return [e for e in events if e.get("invoice_id") == number and e["correlation_id"] == cid]

    posted = await eventually(lambda: carried("payments.events"), bool)
    assert posted[0]["type"] == "payment.posted"
    changed = await eventually(lambda: carried("invoicing.events"), bool)
    assert changed[0]["type"] == "invoice.status_changed"
    assert changed[0]["status"] == "PAYMENT_DONE"
    for service in ("gateway", "payments-0", "invoicing-0"):
        log = (stack.config.home / "logs" / f"{service}.log").read_text()
        lines = [json.loads(x) for x in log.splitlines() if cid in x]
        assert lines and all(x["correlation_id"] == cid for x in lines), service


async def test_every_service_exposes_its_figures(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        for service in SERVICES:
            for url in stack.config.service_urls(service):
                text = (await client.get(url + "/metrics")).text
                missing = [f for f in FIGURES if f not in text]
                assert not missing, (service, missing)
                assert (await client.get(url + "/readyz")).status_code == 200
