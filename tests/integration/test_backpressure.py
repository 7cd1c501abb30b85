"""The gateway's backpressure: while the usage service lags too far behind `usage.raw`, or the
invoicing service behind `usage.recorded` (its copy, where alerts are decided), pushes get 429
with Retry-After (nothing taken); once it has caught up, pushes are taken again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from shared.events.usage import UsageRecorded
from tests.integration.helpers import eventually, produce

pytestmark = pytest.mark.integration

RECORD = {
    "service_line_number": "AST-BACKPRESSURE-01",
    "date": "2026-11-01",
    "priority_gb": "1",
    "observed_at": "2026-11-02T00:00:00Z",
}


async def push(gateway: httpx.AsyncClient) -> httpx.Response:
    return await gateway.post("/api/v1/usage/records", json={"records": [RECORD]})


async def pushes_wait_for(
    stack: Stack, gateway: httpx.AsyncClient, service: str, topic: str, message: bytes
) -> None:
    """With `service` down and 100 messages queued for it on `topic`, pushes are refused (429,
    nothing taken); once it is back and has caught up, they are taken again."""
    stack.kill(service)
    try:
        await produce(stack.config.bootstrap, topic, [(b"AST-FILL-1", message)] * 100)
        refused = await eventually(
            lambda: push(gateway), lambda r: r.status_code == 429, timeout=15
        )
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["code"] == "busy"
    finally:
        stack.restart(service)
    taken = await eventually(lambda: push(gateway), lambda r: r.status_code == 202, timeout=60)
    assert taken.json()["accepted"] == 1


async def test_pushes_wait_while_the_usage_service_catches_up(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    filler = (
        b'{"type": "usage.snapshots_received", "source": "t", "service_line_number":'
        b' "AST-FILL-1", "snapshots": [{"date": "2026-11-01", "priority_gb": "1",'
        b' "observed_at": "2026-11-02T00:00:00Z"}]}'
    )
    await pushes_wait_for(stack, gateway, "usage-0", "usage.raw", filler)


async def test_pushes_wait_while_the_invoicing_copy_catches_up(
    stack: Stack, gateway: httpx.AsyncClient, db: Any
) -> None:
    day = {
        "service_line_number": "AST-FILL-1",
        "date": "2026-11-03",
        "priority_gb": "2.5",
        "opt_in_priority_gb": "0",
        "standard_gb": "0",
        "non_billable_gb": "0",
        "observed_at": "2026-11-04T00:00:00Z",
    }
    # The same state 100 times: copied once. The usage service never had this day (it is put
    # on the topic directly): 2026-11 lies before every month this stack's usage checks read.
    event = UsageRecorded.serialize([day], None)
    await pushes_wait_for(stack, gateway, "invoicing-0", "usage.recorded", event)
    copied = await eventually(
        lambda: db.fetchval(
            "SELECT priority_gb FROM invoicing.line_daily_usage"
            " WHERE service_line_number = 'AST-FILL-1' AND day = '2026-11-03'"
        ),
        lambda v: v is not None,
    )
    assert copied == Decimal("2.5")
