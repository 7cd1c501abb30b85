"""The messy usage workload of issue 12 (revisions that lower a day, duplicates, shuffled
records and Starlink pages) while a usage and an invoicing replica are killed with SIGKILL
mid-stream, then both topics replayed into fresh consumer groups: the copy and the invoices
stay exactly what the rules give, computed by hand."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.faults.test_faults import caught_up, usage_copy_consistent
from tests.integration import usage_workload as wl
from tests.integration.helpers import eventually

pytestmark = pytest.mark.faults


async def amounts(client: httpx.AsyncClient, org_ids: dict[int, str], period: str) -> Any:
    found = {}
    for org, org_id in org_ids.items():
        items = (await client.get("/api/v1/invoices", params={"org_id": org_id})).json()["items"]
        for item in items:
            if item["period"] == period and item["org_id"] == org_id:
                found[org] = Decimal(item["amount"])
    return found


async def copy_of(client: httpx.AsyncClient, w: wl.Workload) -> dict[str, Any]:
    """Each line's month as the invoicing service bills it (its usage summary)."""
    out = {}
    for line in w.lines:
        r = await client.get(
            f"/api/v1/service-lines/{line.number}/usage-summary",
            params={"period": w.month.isoformat()[:7]},
        )
        body = r.json()
        out[line.number] = {
            "days": body["days_with_usage"],
            **{f: Decimal(body[f]) for f in wl.FIGURE_NAMES},
        }
    return out


async def patiently(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    """A run waits (bounded) for usage to settle; while the stack digests a replay, or the
    fuzz test's resync, it may answer 409 usage_pending: ask again, as an operator would."""
    for _ in range(10):
        r = await client.post(path, json=body, timeout=300)
        if r.status_code != 409 or r.json()["error"]["code"] != "usage_pending":
            return r
    return r


async def test_workload_under_kills_and_a_full_replay(
    fault_stack: Stack, client: httpx.AsyncClient
) -> None:
    stack = fault_stack
    w = wl.build(4, "K4", date(2031, 4, 1))
    org_ids = await wl.create_catalog(client, w)

    async def kill_mid_stream() -> None:
        await asyncio.sleep(1.5)
        stack.kill("usage-0")
        stack.kill("invoicing-1")
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.restart, "usage-0")
        await asyncio.to_thread(stack.restart, "invoicing-1")

    await asyncio.gather(wl.push_all(client, w), kill_mid_stream())
    r = await patiently(client, "/api/v1/billing-runs", {"period": w.period})
    assert r.status_code == 200, r.text
    want = {line: {**f, "days": int(f["days"])} for line, f in w.month_figures().items()}
    assert await copy_of(client, w) == want
    assert await amounts(client, org_ids, w.period) == w.expected_amounts()
    await usage_copy_consistent(client)

    # Both topics again from the beginning, in fresh consumer groups of every replica.
    groups = []
    for service, topic in (("usage", "usage.raw"), ("invoicing", "usage.recorded")):
        for name, proc in list(stack.procs.items()):
            if name.startswith(f"{service}-"):
                proc.env[f"BILLPORT_{service.upper()}_CONSUMER_GROUP"] = f"{service}-replay-k4"
                await asyncio.to_thread(stack.restart, name)
        groups.append(f"{service}-replay-k4.{topic}")
    stack.procs["gateway"].env["BILLPORT_GATEWAY_USAGE_CONSUMER_GROUP"] = "usage-replay-k4"
    stack.procs["gateway"].env["BILLPORT_GATEWAY_INVOICING_CONSUMER_GROUP"] = "invoicing-replay-k4"
    await asyncio.to_thread(stack.restart, "gateway")
    await eventually(lambda: caught_up(stack, groups), bool, timeout=240)
    assert await copy_of(client, w) == want
    regen = await client.post("/api/v1/invoices/regenerate", json={"period": w.period}, timeout=300)
    assert regen.status_code == 200, regen.text
    assert await amounts(client, org_ids, w.period) == w.expected_amounts()
    await usage_copy_consistent(client)
