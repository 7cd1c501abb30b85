"""The vertical slice on the real components: gateway -> usage.raw -> usage service ->
PostgreSQL + outbox -> usage.recorded -> invoicing service -> read back through the gateway."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from shared.events.usage import UsageSnapshotsReceived
from tests.integration.helpers import eventually, produce, read_topic

pytestmark = pytest.mark.integration


def line() -> str:
    return f"AST-{uuid.uuid4().int % 10**6:06d}-{uuid.uuid4().int % 10**5:05d}-01"


def record(sln: str, day: str, priority: str, observed: str, opt_in: str = "0") -> dict[str, str]:
    return {
        "service_line_number": sln,
        "date": day,
        "priority_gb": priority,
        "opt_in_priority_gb": opt_in,
        "standard_gb": "1.5",
        "observed_at": observed,
    }


async def summary(gateway: httpx.AsyncClient, sln: str, period: str) -> dict[str, Any]:
    r = await gateway.get(f"/api/v1/service-lines/{sln}/usage-summary", params={"period": period})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def usage(gateway: httpx.AsyncClient, sln: str, start: str, end: str) -> dict[str, Any]:
    r = await gateway.get(f"/api/v1/service-lines/{sln}/usage", params={"from": start, "to": end})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_record_travels_to_invoicing_and_reads_back(gateway: httpx.AsyncClient) -> None:
    sln = line()
    body = {
        "records": [
            record(sln, "2026-10-31", "2.5", "2026-11-01T01:00:00Z", opt_in="1.25"),
            record(sln, "2026-11-01", "10.125", "2026-11-02T01:00:00Z"),
            record(sln, "2026-11-30", "0.875", "2026-12-01T01:00:00Z"),
        ]
    }
    r = await gateway.post("/api/v1/usage/records", json=body)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 3, "rejected": []}

    seen = await eventually(
        lambda: summary(gateway, sln, "2026-11"), lambda s: s["days_with_usage"] == 2
    )
    assert seen["priority_gb"] == "11"
    assert seen["standard_gb"] == "3"
    october = await summary(gateway, sln, "2026-10")
    assert (october["priority_gb"], october["opt_in_priority_gb"]) == ("2.5", "1.25")

    daily = await usage(gateway, sln, "2026-10-01", "2026-11-30")
    assert [d["date"] for d in daily["days"]] == ["2026-10-31", "2026-11-01", "2026-11-30"]
    assert daily["totals"]["priority_gb"] == "13.5"


async def test_same_record_twice_counts_once(gateway: httpx.AsyncClient, db: Any) -> None:
    sln = line()
    body = {"records": [record(sln, "2026-11-05", "4.2", "2026-11-06T00:00:00Z")]}
    for _ in range(2):
        r = await gateway.post("/api/v1/usage/records", json=body)
        assert r.status_code == 202 and r.json()["accepted"] == 1
    # and once more in a batch holding the same record twice
    r = await gateway.post("/api/v1/usage/records", json={"records": body["records"] * 2})
    assert r.json()["accepted"] == 2

    await eventually(lambda: summary(gateway, sln, "2026-11"), lambda s: s["days_with_usage"] == 1)
    # let every copy reach the end of the pipeline, then check nothing was added up
    marker = line()
    await gateway.post(
        "/api/v1/usage/records",
        json={"records": [record(marker, "2026-11-05", "1", "2026-11-06T00:00:00Z")]},
    )
    await eventually(
        lambda: summary(gateway, marker, "2026-11"), lambda s: s["days_with_usage"] == 1
    )
    s = await summary(gateway, sln, "2026-11")
    assert (s["days_with_usage"], s["priority_gb"]) == (1, "4.2")
    announced = await db.fetchval(
        "SELECT count(*) FROM usage.daily_usage WHERE service_line_number = $1", sln
    )
    assert announced == 1


async def test_newer_snapshot_replaces_older_is_ignored(gateway: httpx.AsyncClient) -> None:
    sln = line()
    post = lambda p, o: gateway.post(  # noqa: E731
        "/api/v1/usage/records", json={"records": [record(sln, "2026-11-07", p, o)]}
    )
    await post("5", "2026-11-07T12:00:00Z")
    await post("8", "2026-11-08T00:30:00Z")  # revision of the day: replaces, not adds
    await post("3", "2026-11-07T18:00:00Z")  # older snapshot arriving late: ignored
    await eventually(lambda: summary(gateway, sln, "2026-11"), lambda s: s["priority_gb"] == "8")
    marker = line()
    await gateway.post(
        "/api/v1/usage/records",
        json={"records": [record(marker, "2026-11-07", "1", "2026-11-08T00:00:00Z")]},
    )
    await eventually(
        lambda: summary(gateway, marker, "2026-11"), lambda s: s["days_with_usage"] == 1
    )
    assert (await summary(gateway, sln, "2026-11"))["priority_gb"] == "8"


async def test_feed_pushes_straight_to_raw_topic(stack: Stack, gateway: httpx.AsyncClient) -> None:
    sln = line()
    event = UsageSnapshotsReceived(
        source="kafka-feed",
        service_line_number=sln,
        snapshots=[
            {
                "date": "2026-11-09",
                "priority_gb": Decimal("7.75"),
                "observed_at": "2026-11-10T00:00:00Z",
            }
        ],
    )
    await produce(stack.config.bootstrap, "usage.raw", [(sln.encode(), event.to_json())] * 2)
    s = await eventually(
        lambda: summary(gateway, sln, "2026-11"), lambda s: s["days_with_usage"] == 1
    )
    assert s["priority_gb"] == "7.75"


async def test_poison_message_goes_to_dead_letter_topic_with_reason(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    tag = uuid.uuid4().hex
    good_line = line()
    good = UsageSnapshotsReceived(
        service_line_number=good_line,
        snapshots=[
            {"date": "2026-11-11", "priority_gb": "1", "observed_at": "2026-11-12T00:00:00Z"}
        ],
    )
    await produce(
        stack.config.bootstrap,
        "usage.raw",
        [
            (b"AST-POISON-1", f"not json {tag}".encode()),
            (
                b"AST-POISON-2",
                json.dumps({"type": "usage.snapshots_received", "tag": tag}).encode(),
            ),
            (good_line.encode(), good.to_json()),
        ],
    )
    # the good message behind the poison ones is still applied
    await eventually(
        lambda: summary(gateway, good_line, "2026-11"), lambda s: s["days_with_usage"] == 1
    )

    async def letters() -> list[dict[str, Any]]:
        found = []
        for rec in await read_topic(stack.config.bootstrap, "usage.raw.dlq"):
            letter = json.loads(rec.value)
            if tag in letter["payload"]:
                found.append(letter)
        return found

    dead = await eventually(letters, lambda found: len(found) == 2)
    reasons = sorted(d["reason"] for d in dead)
    assert reasons[0].startswith("not JSON")
    assert "service_line_number" in reasons[1] and "snapshots" in reasons[1]
    assert all(d["original_topic"] == "usage.raw" for d in dead)
    assert all(d["consumer_group"] == "billport-usage" for d in dead)
