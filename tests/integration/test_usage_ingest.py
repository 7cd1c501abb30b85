"""Usage ingestion on the real stack: Starlink pages through the gateway, announcements only
when figures change, usage of lines the catalog does not know reported as unassigned."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from shared.events.usage import days_of_columns
from tests.integration.helpers import eventually, read_topic

pytestmark = pytest.mark.integration


def line() -> str:
    return f"AST-{uuid.uuid4().int % 10**6:06d}-{uuid.uuid4().int % 10**5:05d}-77"


def starlink_page(sln: str) -> bytes:
    return json.dumps(
        {
            "errors": [],
            "warnings": [],
            "information": [],
            "isValid": True,
            "content": {
                "pageIndex": 0,
                "limit": 250,
                "isLastPage": True,
                "totalCount": 1,
                "results": [
                    {
                        "accountNumber": "ACC-1",
                        "serviceLineNumber": sln,
                        "lastUpdated": "2026-11-03T04:00:00Z",
                        "servicePlan": {"productId": "p", "usageLimitGB": 50},
                        "billingCycles": [
                            {
                                "startDate": "2026-10-01T00:00:00Z",
                                "endDate": "2026-10-31T23:59:59Z",
                                "dailyDataUsage": [
                                    {
                                        "date": "2026-10-31T00:00:00Z",
                                        "priorityGB": 5.5,
                                        "optInPriorityGB": 1.25,
                                        "standardGB": 2,
                                        "nonBillableGB": 0.5,
                                    }
                                ],
                            },
                            {
                                "startDate": "2026-11-01T00:00:00Z",
                                "endDate": "2026-12-01T00:00:00Z",
                                "dailyDataUsage": [
                                    {
                                        "date": "2026-11-01T00:00:00Z",
                                        "priorityGB": 10.125,
                                        "optInPriorityGB": 0,
                                        "standardGB": 0,
                                        "nonBillableGB": 0,
                                    },
                                    {
                                        "date": "2026-11-02T00:00:00Z",
                                        "priorityGB": 3,
                                        "optInPriorityGB": 4,
                                        "standardGB": 0,
                                        "nonBillableGB": 0,
                                    },
                                ],
                            },
                        ],
                    }
                ],
            },
        }
    ).encode()


async def test_starlink_page_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    sln = line()
    r = await gateway.post(
        "/api/v1/usage/starlink",
        content=starlink_page(sln),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert [(x["index"], x["service_line_number"]) for x in body["rejected"]] == [(2, sln)]
    assert "cannot exceed" in body["rejected"][0]["reason"]

    async def daily() -> dict[str, Any]:
        u = await gateway.get(
            f"/api/v1/service-lines/{sln}/usage", params={"from": "2026-10-01", "to": "2026-11-30"}
        )
        return dict(u.json())

    got = await eventually(daily, lambda d: len(d["days"]) == 2)
    assert got["days"][0] == {
        "date": "2026-10-31",
        "priority_gb": "5.5",
        "opt_in_priority_gb": "1.25",
        "standard_gb": "2",
        "non_billable_gb": "0.5",
        "observed_at": "2026-11-03T04:00:00Z",
    }
    assert got["totals"]["priority_gb"] == "15.625"
    # the same page pushed again changes nothing
    again = await gateway.post(
        "/api/v1/usage/starlink",
        content=starlink_page(sln),
        headers={"Content-Type": "application/json"},
    )
    assert again.json()["accepted"] == 2
    assert (await daily())["totals"]["priority_gb"] == "15.625"


async def test_a_whole_page_with_errors_is_refused(gateway: httpx.AsyncClient) -> None:
    r = await gateway.post(
        "/api/v1/usage/starlink",
        json={"isValid": False, "errors": ["account unknown"], "content": None},
    )
    assert r.status_code == 422 and "account unknown" in r.json()["error"]["fields"]["errors"]


async def test_usage_recorded_announces_the_state_of_each_day_written(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    sln = line()

    async def push(priority: str, observed: str) -> None:
        r = await gateway.post(
            "/api/v1/usage/records",
            json={
                "records": [
                    {
                        "service_line_number": sln,
                        "date": "2026-11-20",
                        "priority_gb": priority,
                        "observed_at": observed,
                    }
                ]
            },
        )
        assert r.json()["accepted"] == 1

    async def announced() -> list[dict[str, Any]]:
        days = []
        for rec in await read_topic(stack.config.bootstrap, "usage.recorded"):
            event = json.loads(rec.value)
            # other tests put schema 1 on the topic (resyncs, events of their own making)
            written = days_of_columns(event["columns"]) if "columns" in event else event["days"]
            mine = [d for d in written if d["service_line_number"] == sln]
            if mine:  # this line's days were announced by the ingest's hot path: schema 2
                assert (event["schema_version"], event["source"]) == (2, "ingest")
            days += mine
        return days

    await push("6", "2026-11-21T00:00:00Z")
    await eventually(announced, lambda d: len(d) == 1)
    # A newer snapshot with the same figures is written, so announced (a consumer copying state
    # takes it as a no-op; deciding "unchanged" would need a before-image that a consumer of
    # another partition may be changing at that moment).
    await push("6", "2026-11-21T06:00:00Z")
    await push("4", "2026-11-20T12:00:00Z")  # older snapshot: not written, not announced
    await push("7.5", "2026-11-22T00:00:00Z")  # revised figures: announced
    days = await eventually(announced, lambda d: len(d) == 3)
    assert [(d["priority_gb"], d["observed_at"]) for d in days] == [
        ("6", "2026-11-21T00:00:00.000000Z"),
        ("6", "2026-11-21T06:00:00.000000Z"),
        ("7.5", "2026-11-22T00:00:00.000000Z"),
    ]
    u = await gateway.get(
        f"/api/v1/service-lines/{sln}/usage", params={"from": "2026-11-20", "to": "2026-11-20"}
    )
    assert u.json()["days"][0]["observed_at"] == "2026-11-22T00:00:00Z"


async def test_usage_of_unknown_lines_is_kept_and_reported_unassigned(
    gateway: httpx.AsyncClient, db: Any
) -> None:
    known, unknown = line(), line()
    org = (await gateway.post("/api/v1/organizations", json={"name": f"Org {known}"})).json()
    plan = (
        await gateway.post(
            "/api/v1/plans",
            json={
                "name": f"Plan {known}",
                "monthly_price": "100",
                "allowance_gb": "50",
                "overage_price_per_gb": "2",
            },
        )
    ).json()
    added = await gateway.post(
        "/api/v1/service-lines",
        json={
            "service_line_number": known,
            "name": "Known",
            "org_id": org["id"],
            "plan_id": plan["id"],
            "active_from": "2026-11-01",
        },
    )
    assert added.status_code == 201, added.text
    records = [
        {
            "service_line_number": s,
            "date": "2026-11-10",
            "priority_gb": "2.5",
            "observed_at": "2026-11-11T00:00:00Z",
        }
        for s in (known, unknown)
    ]
    await gateway.post("/api/v1/usage/records", json={"records": records})

    async def report() -> dict[str, Any]:
        return dict((await gateway.get("/api/v1/usage/unassigned")).json())

    found = await eventually(
        report, lambda r: unknown in [i["service_line_number"] for i in r["items"]]
    )
    item = next(i for i in found["items"] if i["service_line_number"] == unknown)
    assert item == {
        "service_line_number": unknown,
        "first_day": "2026-11-10",
        "last_day": "2026-11-10",
        "days_with_usage": 1,
        "priority_gb": "2.5",
    }
    assert known not in [i["service_line_number"] for i in found["items"]]


async def test_rejections_and_dead_letters_are_counted_in_metrics(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    from tests.integration.helpers import produce

    bad = {
        "records": [
            {
                "service_line_number": "AST-1-2-3",
                "date": "2026-11-01",
                "priority_gb": "-3",
                "observed_at": "2026-11-02T00:00:00Z",
            }
        ]
    }
    assert (await gateway.post("/api/v1/usage/records", json=bad)).json()["accepted"] == 0
    await produce(stack.config.bootstrap, "usage.raw", [(b"AST-METRIC", b"{broken")])
    usage_url = stack.config.service_urls("usage")[0]

    async def dead_lettered() -> float:
        async with httpx.AsyncClient() as client:
            text = (await client.get(usage_url + "/metrics")).text
        lines = [
            x
            for x in text.splitlines()
            if x.startswith('billport_dead_lettered_total{topic="usage.raw"}')
        ]
        return float(lines[0].split()[-1]) if lines else 0.0

    assert await eventually(dead_lettered, lambda n: n >= 1)
    gateway_metrics = (await gateway.get("/metrics")).text
    assert 'billport_rejected_total{route="/api/v1/usage/records"}' in gateway_metrics
