"""Watching usage (issue 16) on the real stack: consumption and forecast of sub-pools and lines,
threshold alerts made once (duplicates, revisions, replays, two invoicing replicas), the alert
e-mail in the SMTP inbox, organization scope and bad input. Every figure is computed by hand in
the comment beside it; each scenario has periods of its own (2042), far from other tests."""

from __future__ import annotations

import asyncio
import email
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from email.message import Message
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from devstack.procs import spawn, stop_group, wait_port
from devstack.stack import ROOT, Stack
from shared.offsets import OffsetProbe
from tests.integration.helpers import eventually, produce, read_topic

pytestmark = pytest.mark.integration


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def created(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def org(gateway: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    return await created(gateway, "organizations", {"name": f"Watch {tag()}", **extra})


async def plan(gateway: httpx.AsyncClient, allowance: str) -> str:
    body = {
        "name": f"Watch plan {tag()}",
        "monthly_price": "100.00",
        "allowance_gb": allowance,
        "overage_price_per_gb": "1.00",
    }
    return (await created(gateway, "plans", body))["id"]


async def pool(gateway: httpx.AsyncClient, org_id: str, allowance: str) -> str:
    body = {
        "org_id": org_id,
        "name": f"Watch pool {tag()}",
        "monthly_price": "500.00",
        "allowance_gb": allowance,
        "overage_price_per_gb": "1.00",
    }
    return (await created(gateway, "sub-pools", body))["id"]


async def line(
    gateway: httpx.AsyncClient, org_id: str, start: str, end: str | None = None, **on: str
) -> str:
    number = f"AST-UW-{tag()}"
    body = {
        "service_line_number": number,
        "name": f"Vessel {number[-4:]}",
        "org_id": org_id,
        "active_from": start,
        **({"active_to": end} if end else {}),
        **on,
    }
    await created(gateway, "service-lines", body)
    return number


async def push(
    gateway: httpx.AsyncClient,
    number: str,
    days: dict[str, str],
    observed_at: str = "2042-06-01T00:00:00Z",
) -> None:
    records = [
        {"service_line_number": number, "date": d, "priority_gb": gb, "observed_at": observed_at}
        for d, gb in days.items()
    ]
    r = await gateway.post("/api/v1/usage/records", json={"records": records})
    assert r.status_code == 202 and r.json()["accepted"] == len(records), r.text


def every_day(month: str, first: int, last: int, gb: str) -> dict[str, str]:
    return {f"{month}-{d:02d}": gb for d in range(first, last + 1)}


async def pool_usage(
    gateway: httpx.AsyncClient, pool_id: str, period: str, as_of: str
) -> dict[str, Any]:
    r = await gateway.get(
        f"/api/v1/sub-pools/{pool_id}/usage", params={"period": period, "as_of": as_of}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def line_usage(
    gateway: httpx.AsyncClient, number: str, period: str, as_of: str
) -> dict[str, Any]:
    r = await gateway.get(
        f"/api/v1/service-lines/{number}/usage-summary",
        params={"period": period, "as_of": as_of},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def alerts_of(db: asyncpg.Pool, subject_id: str) -> list[tuple[str, int]]:
    rows = await db.fetch(
        "SELECT period, threshold FROM invoicing.usage_alerts WHERE subject_id = $1"
        " ORDER BY period, threshold",
        subject_id,
    )
    return [(r["period"], r["threshold"]) for r in rows]


async def alert_events(stack: Stack, subject_id: str) -> list[dict[str, Any]]:
    records = await read_topic(stack.config.bootstrap, "usage.alerts", timeout=3)
    events = [orjson.loads(r.value) for r in records]
    return [e for e in events if e["subject_id"] == subject_id]


def mails_to(stack: Stack, address: str) -> list[Message]:
    folder = stack.config.home / "mail"
    found = [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
    return [m for m in found if address in m["X-Envelope-To"]]


async def settled(db: asyncpg.Pool, number: str, day: str, gb: str) -> None:
    """Wait until the invoicing copy holds this day with these figures."""

    async def probe() -> Any:
        return await db.fetchval(
            "SELECT priority_gb FROM invoicing.line_daily_usage"
            " WHERE service_line_number = $1 AND day = $2::text::date",
            number,
            day,
        )

    await eventually(probe, lambda v: v is not None and v == Decimal(gb))


# --- consumption ----------------------------------------------------------------------------


async def test_a_pool_with_members_joining_and_leaving_mid_month(
    gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    owner = await org(gateway)
    pool_id = await pool(gateway, owner["id"], "100")
    first = await line(gateway, owner["id"], "2042-02-01", sub_pool_id=pool_id)
    joins = await line(gateway, owner["id"], "2042-03-06", sub_pool_id=pool_id)
    leaves = await line(gateway, owner["id"], "2042-03-01", "2042-03-04", sub_pool_id=pool_id)
    await push(gateway, first, every_day("2042-02", 1, 28, "1") | every_day("2042-03", 1, 10, "2"))
    # days before it joined count nowhere; days after the other left count nowhere
    await push(gateway, joins, every_day("2042-03", 1, 5, "5") | every_day("2042-03", 6, 10, "3"))
    await push(gateway, leaves, every_day("2042-03", 1, 8, "1"))
    for number, day, gb in ((first, "2042-03-10", "2"), (joins, "2042-03-10", "3")):
        await settled(db, number, day, gb)
    await settled(db, leaves, "2042-03-08", "1")

    # members: first 10 x 2 = 20, joins 5 x 3 = 15 (6th..10th), leaves 4 x 1 = 4 (1st..4th)
    # pool: 39 of 100 GB; days 1st..4th 2+1 = 3, 5th 2, 6th..10th 2+3 = 5
    # as_of 10th: settled 1st..8th = 3+3+3+3+2+5+5+5 = 29; the last 7 (2nd..8th) = 26, rate
    # 26/7; 23 days after the 8th: 29 + 26/7 x 23 = 29 + 598/7 = 114.428571428571… → to the byte
    got = await pool_usage(gateway, pool_id, "2042-03", "2042-03-10")
    assert {k: got[k] for k in ("allowance_gb", "used_gb", "remaining_gb", "percent_used")} == {
        "allowance_gb": "100",
        "used_gb": "39",
        "remaining_gb": "61",
        "percent_used": "39.00",
    }
    assert got["forecast_gb"] == "114.428571429"
    assert got["days"] == [
        {"date": f"2042-03-{d:02d}", "priority_gb": gb}
        for d, gb in [(1, "3"), (2, "3"), (3, "3"), (4, "3"), (5, "2")]
        + [(d, "5") for d in range(6, 11)]
    ]
    assert sorted((m["service_line_number"], m["used_gb"]) for m in got["members"]) == sorted(
        [(first, "20"), (joins, "15"), (leaves, "4")]
    )
    assert got["period"] == "2042-03" and got["sub_pool_id"] == pool_id

    # as_of 5th: settled 1st..3rd = 9; 4 days short of 7 at February's daily mean (only
    # `first` was a member: 28 GB / 28 days = 1): rate (9 + 4)/7 = 13/7; 28 days after the
    # 3rd: 9 + 13/7 x 28 = 9 + 52 = 61
    early = await pool_usage(gateway, pool_id, "2042-03", "2042-03-05")
    assert early["forecast_gb"] == "61"
    # a period over: what it used
    assert (await pool_usage(gateway, pool_id, "2042-03", "2042-05-01"))["forecast_gb"] == "39"


async def test_a_line_with_a_mid_month_plan_change_and_a_price_version(
    gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    owner = await org(gateway)
    small, large = await plan(gateway, "30"), await plan(gateway, "60")
    r = await gateway.patch(
        f"/api/v1/plans/{large}", json={"effective_from": "2042-04", "allowance_gb": "90"}
    )
    assert r.status_code == 200, r.text
    number = await line(gateway, owner["id"], "2042-03-01", plan_id=small)
    r = await gateway.post(
        f"/api/v1/service-lines/{number}/changes",
        json={"effective_on": "2042-04-11", "plan_id": large},
    )
    assert r.status_code == 201, r.text
    await push(gateway, number, every_day("2042-04", 1, 20, "2"))
    await settled(db, number, "2042-04-20", "2")

    # allowance 30 x 10/30 + 90 (the version for April) x 20/30 = 10 + 60 = 70; used 40,
    # 40/70 = 57.142857… % → 57.14; as_of 21st: settled 1st..19th = 38, rate 14/7 = 2,
    # 11 days after the 19th: 38 + 22 = 60
    got = await line_usage(gateway, number, "2042-04", "2042-04-21")
    assert {
        k: got[k]
        for k in ("allowance_gb", "used_gb", "remaining_gb", "percent_used", "forecast_gb")
    } == {
        "allowance_gb": "70",
        "used_gb": "40",
        "remaining_gb": "30",
        "percent_used": "57.14",
        "forecast_gb": "60",
    }
    assert len(got["days"]) == 20 and got["days"][0] == {"date": "2042-04-01", "priority_gb": "2"}
    # the fields the route had before stay
    assert got["priority_gb"] == "40" and got["days_with_usage"] == 20
    # default thresholds 80 and 100: 57 % alerts nobody
    assert await alerts_of(db, number) == []


# --- alerts ---------------------------------------------------------------------------------


async def test_an_alert_is_made_once_through_repeats_revisions_and_replays(
    stack: Stack, gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    contact = f"watch-{tag()}@example.com"
    owner = await org(gateway, customer_emails=[contact])
    assert owner["usage_alert_thresholds"] == [80, 100]
    number = await line(gateway, owner["id"], "2042-05-01", plan_id=await plan(gateway, "10"))

    await push(gateway, number, {"2042-05-01": "8.5"}, "2042-05-01T12:00:00Z")  # 85 %
    await push(gateway, number, {"2042-05-01": "8.5"}, "2042-05-01T12:00:00Z")  # the same again
    await eventually(lambda: alerts_of(db, number), lambda a: a == [("2042-05", 80)])
    # a revision lowers the day to 50 %, then another day takes it to 90 %: 80 is not
    # crossed a second time in the period
    await push(gateway, number, {"2042-05-01": "5"}, "2042-05-02T12:00:00Z")
    await push(gateway, number, {"2042-05-02": "4"}, "2042-05-02T12:00:00Z")
    await settled(db, number, "2042-05-02", "4")
    assert await alerts_of(db, number) == [("2042-05", 80)]
    # 5 + 6 = 11 of 10: 100 % is crossed
    await push(gateway, number, {"2042-05-02": "6"}, "2042-05-03T12:00:00Z")
    await eventually(
        lambda: alerts_of(db, number), lambda a: a == [("2042-05", 80), ("2042-05", 100)]
    )

    # every usage.recorded message of the line again: nothing new
    recorded = await read_topic(stack.config.bootstrap, "usage.recorded", timeout=5)
    mine = [(r.key, r.value) for r in recorded if number.encode() in r.value]
    assert mine
    await produce(stack.config.bootstrap, "usage.recorded", mine)
    events = await eventually(lambda: alert_events(stack, number), lambda e: len(e) >= 2)
    assert sorted(e["threshold"] for e in events) == [80, 100]
    first = next(e for e in events if e["threshold"] == 80)
    assert first["used_gb"] == "8.5" and first["percent_used"] == "85.00"
    assert first["allowance_gb"] == "10" and first["recipients"] == [contact]
    assert first["subject"] == "service_line" and first["org_id"] == owner["id"]

    # one e-mail per alert, and again one after the alerts are read twice
    mails = await eventually(
        lambda: asyncio.to_thread(mails_to, stack, contact), lambda m: len(m) == 2
    )
    subjects = sorted(m["Subject"] for m in mails)
    assert "(100% alert)" in subjects[0] and "(80% alert)" in subjects[1]
    body = next(m for m in mails if "(80% alert)" in m["Subject"]).get_payload(decode=True)
    assert b"Used so far:          8.5 GB (85.00%)" in body
    assert not any(m.is_multipart() for m in mails)  # no attachment
    again = [(r.key, r.value) for r in await read_topic(stack.config.bootstrap, "usage.alerts")]
    await produce(
        stack.config.bootstrap, "usage.alerts", [a for a in again if number.encode() in a[1]]
    )
    await asyncio.sleep(3)
    assert len(mails_to(stack, contact)) == 2
    assert await alerts_of(db, number) == [("2042-05", 80), ("2042-05", 100)]
    # the topic holds the two events twice now (sent again above), and no third alert
    assert len({e["alert_id"] for e in await alert_events(stack, number)}) == 2

    listed = await gateway.get("/api/v1/alerts", params={"org_id": owner["id"]})
    assert listed.status_code == 200, listed.text
    assert [(a["subject_id"], a["threshold"]) for a in listed.json()["items"]] == [
        (number, 100),
        (number, 80),
    ]


@pytest.fixture
def replicas(stack: Stack) -> Iterator[Any]:
    """Starts more invoicing processes on the stack (instance numbers from 1)."""
    started: list[Any] = []

    def start(instance: int, **settings: str) -> None:
        env = {
            **stack.config.service_env("invoicing", instance),
            "BILLPORT_INVOICING_SCHEDULER": "false",
            **settings,
        }
        log = stack.config.home / "logs" / f"invoicing-extra-{instance}.log"
        proc = spawn([sys.executable, "-m", "services.invoicing"], log, env=env, cwd=ROOT)
        started.append(proc)
        wait_port(stack.config.service_port("invoicing", instance), 60, proc, "invoicing", log)

    yield start
    for proc in started:
        stop_group(proc.pid, timeout=10)


async def test_a_pool_alerts_once_with_two_replicas_and_a_full_replay(
    stack: Stack, gateway: httpx.AsyncClient, db: asyncpg.Pool, replicas: Any
) -> None:
    replicas(1)  # a second replica in the same consumer group: the partitions are shared
    contact = f"pool-{tag()}@example.com"
    owner = await org(gateway, customer_emails=[contact], usage_alert_thresholds=[50, 80, 100])
    pool_id = await pool(gateway, owner["id"], "60")
    members = [
        await line(gateway, owner["id"], "2042-07-01", sub_pool_id=pool_id) for _ in range(6)
    ]
    # six members, 10 GB each over two rounds pushed at once: 30 GB (50 %), then 60 (100 %)
    for day in ("2042-07-01", "2042-07-02"):
        await asyncio.gather(*(push(gateway, n, {day: "5"}) for n in members))
    await eventually(
        lambda: alerts_of(db, pool_id),
        lambda a: a == [("2042-07", 50), ("2042-07", 80), ("2042-07", 100)],
        timeout=60,
    )
    # a third replica in a fresh consumer group reads all of usage.recorded again
    group = f"replay-{tag()}"
    replicas(2, BILLPORT_INVOICING_CONSUMER_GROUP=group)
    probe = OffsetProbe(stack.config.bootstrap, "usage-watch-test")
    try:
        ends = await probe.end_offsets("usage.recorded")

        async def behind() -> int:
            pending = await probe.pending(f"{group}.usage.recorded", "usage.recorded", ends)
            return sum(pending.behind.values())

        await eventually(behind, lambda n: n == 0, timeout=120)
    finally:
        await probe.close()
    assert await alerts_of(db, pool_id) == [("2042-07", 50), ("2042-07", 80), ("2042-07", 100)]
    events = await alert_events(stack, pool_id)
    assert sorted(e["threshold"] for e in events) == [50, 80, 100]
    assert {e["subject"] for e in events} == {"sub_pool"}
    await eventually(lambda: asyncio.to_thread(mails_to, stack, contact), lambda m: len(m) == 3)


# --- scope and bad input --------------------------------------------------------------------


async def test_an_org_user_sees_its_own_tree_only(
    stack: Stack, gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    parent = await org(gateway)
    child = await org(gateway, parent_id=parent["id"], usage_alert_thresholds=[1])
    stranger = await org(gateway, usage_alert_thresholds=[1])
    own_pool = await pool(gateway, child["id"], "10")
    other_pool = await pool(gateway, stranger["id"], "10")
    own_line = await line(gateway, child["id"], "2042-08-01", plan_id=await plan(gateway, "10"))
    other_line = await line(
        gateway, stranger["id"], "2042-08-01", plan_id=await plan(gateway, "10")
    )
    for number in (own_line, other_line):
        await push(gateway, number, {"2042-08-01": "1"})
    await eventually(lambda: alerts_of(db, other_line), bool)
    await eventually(lambda: alerts_of(db, own_line), bool)
    made = await gateway.post(
        "/api/v1/tokens", json={"name": "watcher", "role": "org_user", "org_id": parent["id"]}
    )
    token = made.json()["token"]
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url, headers={"Authorization": f"Bearer {token}"}
    ) as user:
        period = {"period": "2042-08"}
        assert (
            await user.get(f"/api/v1/sub-pools/{own_pool}/usage", params=period)
        ).status_code == 200
        summary = await user.get(f"/api/v1/service-lines/{own_line}/usage-summary", params=period)
        assert summary.status_code == 200 and summary.json()["percent_used"] == "10.00"
        for path in (
            f"/api/v1/sub-pools/{other_pool}/usage",
            f"/api/v1/service-lines/{other_line}/usage-summary",
            "/api/v1/service-lines/AST-UW-unknown/usage-summary",
            "/api/v1/sub-pools/pool_unknown/usage",
        ):
            r = await user.get(path, params=period)
            assert r.status_code == 404, (path, r.text)
        mine = (await user.get("/api/v1/alerts", params=period)).json()["items"]
        assert {a["subject_id"] for a in mine} == {own_line}
        theirs = await user.get("/api/v1/alerts", params={"org_id": stranger["id"]})
        assert theirs.json()["items"] == []
    # staff see an unknown line's period as empty, and the stranger's alert
    empty = await line_usage(gateway, "AST-UW-unknown", "2042-08", "2042-08-10")
    assert (empty["allowance_gb"], empty["used_gb"], empty["percent_used"]) == ("0", "0", None)
    staff = (await gateway.get("/api/v1/alerts", params={"org_id": stranger["id"]})).json()
    assert [a["subject_id"] for a in staff["items"]] == [other_line]


async def test_bad_input_is_a_422_naming_the_field(gateway: httpx.AsyncClient) -> None:
    owner = await org(gateway)
    pool_id = await pool(gateway, owner["id"], "10")
    for params, field in (
        ({"period": "2042-13"}, "period"),
        ({"period": "2042-03", "as_of": "2042-02-30"}, "as_of"),
        ({"period": "2042-03", "as_of": "tomorrow"}, "as_of"),
        ({}, "period"),
    ):
        for path in (
            f"/api/v1/sub-pools/{pool_id}/usage",
            "/api/v1/service-lines/AST-1-2-3/usage-summary",
        ):
            r = await gateway.get(path, params=params)
            assert r.status_code == 422, (path, params, r.text)
            assert field in r.json()["error"]["fields"], r.json()
    assert (await gateway.get("/api/v1/alerts", params={"period": "42"})).status_code == 422
    for thresholds, field in (
        ([0], "usage_alert_thresholds.0"),
        ([80, 80], "usage_alert_thresholds"),
        (list(range(1, 12)), "usage_alert_thresholds"),
        ([1001], "usage_alert_thresholds.0"),
        (["80"], "usage_alert_thresholds.0"),
        (None, "usage_alert_thresholds"),
    ):
        r = await gateway.patch(
            f"/api/v1/organizations/{owner['id']}", json={"usage_alert_thresholds": thresholds}
        )
        assert r.status_code == 422, (thresholds, r.text)
        fields = r.json()["error"].get("fields", {})
        assert any(k.startswith(field) for k in fields) or "usage_alert_thresholds" in str(
            r.json()
        ), (thresholds, r.json())
    r = await gateway.patch(
        f"/api/v1/organizations/{owner['id']}", json={"usage_alert_thresholds": [100, 90, 75]}
    )
    assert r.status_code == 200 and r.json()["usage_alert_thresholds"] == [75, 90, 100]
    got = await gateway.get(f"/api/v1/organizations/{owner['id']}")
    assert got.json()["usage_alert_thresholds"] == [75, 90, 100]
