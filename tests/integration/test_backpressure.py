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


async def test_pushes_wait_while_the_usage_service_catches_up(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    stack.kill("usage-0")
    try:
        filler = (
            b'{"type": "usage.snapshots_received", "source": "t", "service_line_number":'
            b' "AST-FILL-1", "snapshots": [{"date": "2026-11-01", "priority_gb": "1",'
            b' "observed_at": "2026-11-02T00:00:00Z"}]}'
        )
        await produce(stack.config.bootstrap, "usage.raw", [(b"AST-FILL-1", filler)] * 100)

        async def push() -> httpx.Response:
            return await gateway.post("/api/v1/usage/records", json={"records": [RECORD]})

        refused = await eventually(push, lambda r: r.status_code == 429, timeout=15)
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["code"] == "busy"
    finally:
        stack.restart("usage-0")
    taken = await eventually(push, lambda r: r.status_code == 202, timeout=60)
    assert taken.json()["accepted"] == 1


async def test_pushes_wait_while_the_invoicing_copy_catches_up(
    stack: Stack, gateway: httpx.AsyncClient, db: Any
) -> None:
    day = {
        "service_line_number": "AST-BACKPRESSURE-02",
        "date": "2026-11-03",
        "priority_gb": "2.5",
        "opt_in_priority_gb": "0",
        "standard_gb": "0",
        "non_billable_gb": "0",
        "observed_at": "2026-11-04T00:00:00Z",
    }
    stack.kill("invoicing-0")
    try:
        event = UsageRecorded.serialize([day], None)  # the same state 100 times: copied once
        await produce(
            stack.config.bootstrap, "usage.recorded", [(b"AST-BACKPRESSURE-02", event)] * 100
        )

        async def push() -> httpx.Response:
            return await gateway.post("/api/v1/usage/records", json={"records": [RECORD]})

        refused = await eventually(push, lambda r: r.status_code == 429, timeout=15)
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["error"]["code"] == "busy"
    finally:
        stack.restart("invoicing-0")
    taken = await eventually(push, lambda r: r.status_code == 202, timeout=60)
    assert taken.json()["accepted"] == 1
    copied = await eventually(
        lambda: db.fetchval(
            "SELECT priority_gb FROM invoicing.line_daily_usage"
            " WHERE service_line_number = 'AST-BACKPRESSURE-02' AND day = '2026-11-03'"
        ),
        lambda v: v is not None,
    )
    assert copied == Decimal("2.5")
