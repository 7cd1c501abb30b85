"""A living catalog, billed exactly (issue 13), on real Kafka and PostgreSQL through the gateway.

Every figure is computed by hand from the rules (api.md, "Rules for a changing catalog"); each
scenario uses periods of its own, far from the other tests'."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def tag() -> str:
    return uuid.uuid4().hex[:8]


async def created(gateway: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def plan(gateway: httpx.AsyncClient, name: str, **terms: str) -> str:
    return (await created(gateway, "plans", {"name": f"{name} {tag()}", **terms}))["id"]


async def org(gateway: httpx.AsyncClient, name: str) -> str:
    return (await created(gateway, "organizations", {"name": f"{name} {tag()}"}))["id"]


async def line(
    gateway: httpx.AsyncClient,
    org_id: str,
    start: str,
    plan_id: str | None = None,
    pool_id: str | None = None,
) -> str:
    number = f"AST-LC-{tag()}"
    body = {
        "service_line_number": number,
        "name": f"Vessel {number[-4:]}",
        "org_id": org_id,
        "active_from": start,
    }
    body.update({"plan_id": plan_id} if plan_id else {"sub_pool_id": pool_id})
    await created(gateway, "service-lines", body)
    return number


async def usage(gateway: httpx.AsyncClient, number: str, days: dict[str, str]) -> None:
    records = [
        {
            "service_line_number": number,
            "date": d,
            "priority_gb": gb,
            "observed_at": "2040-01-01T00:00:00Z",
        }
        for d, gb in days.items()
    ]
    r = await gateway.post("/api/v1/usage/records", json={"records": records})
    assert r.status_code == 202 and r.json()["accepted"] == len(records), r.text


def every_day(month: str, first: int, last: int, gb: str) -> dict[str, str]:
    return {f"{month}-{d:02d}": gb for d in range(first, last + 1)}


async def change(gateway: httpx.AsyncClient, number: str, **body: str) -> dict[str, Any]:
    r = await gateway.post(f"/api/v1/service-lines/{number}/changes", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def run(gateway: httpx.AsyncClient, period: str) -> None:
    r = await gateway.post("/api/v1/billing-runs", json={"period": period}, timeout=300)
    assert r.status_code == 200, r.text


async def invoice(gateway: httpx.AsyncClient, org_id: str, period: str) -> dict[str, Any] | None:
    r = await gateway.get("/api/v1/invoices", params={"org_id": org_id, "limit": 100})
    found = [i for i in r.json()["items"] if i["period"] == period and i["org_id"] == org_id]
    if not found:
        return None
    return dict((await gateway.get(f"/api/v1/invoices/{found[0]['invoice_id']}")).json())


def lines_of(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(x["type"], x["amount"]) for x in detail["lines"]]


async def approve(gateway: httpx.AsyncClient, detail: dict[str, Any]) -> None:
    r = await gateway.post(f"/api/v1/invoices/{detail['invoice_id']}/approve")
    assert r.status_code == 200, r.text


PER_GB = {"monthly_price": "150", "allowance_gb": "50", "overage_price_per_gb": "2.125"}
BLOCKS = {
    "monthly_price": "100",
    "allowance_gb": "100",
    "overage_block_gb": "50",
    "overage_block_price": "25",
}


async def test_plan_change_mid_month_per_gb_to_block_and_back(gateway: httpx.AsyncClient) -> None:
    a, b = await plan(gateway, "Per GB", **PER_GB), await plan(gateway, "Blocks", **BLOCKS)
    o = await org(gateway, "Changes")
    number = await line(gateway, o, "2035-01-01", plan_id=a)
    await change(gateway, number, effective_on="2035-02-11", plan_id=b)
    detail = await change(gateway, number, effective_on="2035-02-21", plan_id=a)
    assert [(x["plan_id"], x["active_from"], x["active_to"]) for x in detail["assignments"]] == [
        (a, "2035-01-01", "2035-02-10"),
        (b, "2035-02-11", "2035-02-20"),
        (a, "2035-02-21", None),
    ]
    await usage(
        gateway, number, {**every_day("2035-02", 1, 20, "10"), **every_day("2035-02", 21, 28, "5")}
    )
    await run(gateway, "2035-02")
    feb = await invoice(gateway, o, "2035-02")
    assert feb is not None
    # 150 x 10/28 = 53.57; 100 x 10/28 = 35.71; 150 x 8/28 = 42.86
    assert lines_of(feb) == [("REGULAR", "53.57"), ("REGULAR", "35.71"), ("REGULAR", "42.86")]
    await run(gateway, "2035-03")
    march = await invoice(gateway, o, "2035-03")
    assert march is not None
    # A, Feb 1-10: 100 - 50 x 10/28 = 82.142857 GB x 2.125 = 174.553 -> 174.55
    # B, Feb 11-20: 100 - 100 x 10/28 = 64.2857 GB -> 2 started blocks x 25 = 50.00
    # A, Feb 21-28: 40 - 50 x 8/28 = 25.714286 GB x 2.125 = 54.643 -> 54.64
    assert lines_of(march) == [
        ("REGULAR", "150.00"),
        ("OVERAGE", "174.55"),
        ("OVERAGE", "50.00"),
        ("OVERAGE", "54.64"),
    ]
    assert march["amount"] == "429.19"


async def test_move_into_and_out_of_a_sub_pool_mid_month(gateway: httpx.AsyncClient) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    o = await org(gateway, "Pooling")
    pool = (
        await created(
            gateway,
            "sub-pools",
            {
                "org_id": o,
                "name": f"Pool {tag()}",
                "monthly_price": "500",
                "allowance_gb": "100",
                "overage_price_per_gb": "1.5",
            },
        )
    )["id"]
    mover = await line(gateway, o, "2035-05-01", plan_id=a)
    member = await line(gateway, o, "2035-05-01", pool_id=pool)
    await change(gateway, mover, effective_on="2035-06-11", sub_pool_id=pool)
    await change(gateway, mover, effective_on="2035-06-21", plan_id=a)
    await usage(gateway, mover, every_day("2035-06", 1, 30, "4"))
    await usage(gateway, member, every_day("2035-06", 1, 30, "3"))
    await run(gateway, "2035-07")
    july = await invoice(gateway, o, "2035-07")
    assert july is not None
    # mover on A, June 1-10 and 21-30: 40 - 50 x 10/30 = 23.3333 GB x 2.125 = 49.58 each
    # pool: member 90 + mover's 40 in the pool = 130 - 100 = 30 GB x 1.5 = 45.00
    assert lines_of(july) == [
        ("REGULAR", "150.00"),
        ("OVERAGE", "49.58"),
        ("OVERAGE", "49.58"),
        ("REGULAR", "500.00"),
        ("OVERAGE", "45.00"),
        ("USAGE_INFO", "0.00"),
        ("USAGE_INFO", "0.00"),
    ]
    info = {
        (x["service_line_number"], x["usage_gb"])
        for x in july["lines"]
        if x["type"] == "USAGE_INFO"
    }
    assert info == {(mover, "40"), (member, "90")}
    assert july["amount"] == "794.16"


async def test_move_to_another_organization_bills_the_usage_once(
    gateway: httpx.AsyncClient,
) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    x, y = await org(gateway, "From"), await org(gateway, "To")
    number = await line(gateway, x, "2035-08-01", plan_id=a)
    await change(gateway, number, effective_on="2035-09-16", org_id=y)
    await usage(gateway, number, every_day("2035-09", 1, 30, "3"))
    await run(gateway, "2035-10")
    # Each half: 45 GB - 50 x 15/30 = 20 GB over x 2.125 = 42.50, to its own organization.
    first, second = await invoice(gateway, x, "2035-10"), await invoice(gateway, y, "2035-10")
    assert first is not None and second is not None
    assert lines_of(first) == [("OVERAGE", "42.50")]
    assert lines_of(second) == [("REGULAR", "150.00"), ("OVERAGE", "42.50")]
    bad = await gateway.post(
        f"/api/v1/service-lines/{number}/changes", json={"effective_on": "2035-07-01", "org_id": x}
    )
    assert bad.status_code == 422 and "effective_on" in bad.json()["error"]["fields"]


async def test_back_dated_end_after_approval_corrects_and_carries_credit_forward(
    gateway: httpx.AsyncClient,
) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    c = await plan(
        gateway, "Small", monthly_price="60", allowance_gb="10", overage_price_per_gb="1"
    )
    o = await org(gateway, "Ending")
    ended = await line(gateway, o, "2035-11-01", plan_id=a)
    await line(gateway, o, "2035-11-01", plan_id=c)
    await run(gateway, "2035-12")
    december = await invoice(gateway, o, "2035-12")
    assert december is not None and december["amount"] == "210.00"
    await approve(gateway, december)
    r = await gateway.patch(f"/api/v1/service-lines/{ended}", json={"active_to": "2035-12-10"})
    assert r.status_code == 200 and r.json()["active_to"] == "2035-12-10", r.text

    await run(gateway, "2036-01")
    january = await invoice(gateway, o, "2036-01")
    assert january is not None
    # December was billed 150.00 for the ended line; due 150 x 10/31 = 48.39: -101.61.
    # 60.00 - 101.61 = -41.61: the invoice stays at 0.00, 41.61 goes to the next one.
    assert lines_of(january) == [
        ("REGULAR", "60.00"),
        ("ADJUSTMENT", "-101.61"),
        ("ADJUSTMENT", "41.61"),
    ]
    assert january["lines"][1]["description"].startswith("Correction 2035-12:")
    assert january["lines"][2]["description"] == "Credit carried forward to the next invoice"
    assert january["amount"] == "0.00"
    ipt = await gateway.get(
        f"/api/v1/invoices/{january['invoice_id']}/ipt", params={"format": "csv"}
    )
    assert ipt.status_code == 200, ipt.text
    kinds = [row.split(",")[1] for row in ipt.text.strip().splitlines()[1:]]
    assert kinds == ["INVOICE", "CORRECTION", "CREDIT"]
    assert ipt.text.strip().splitlines()[-1].endswith(",0.00")  # running balance
    document = await gateway.get(f"/api/v1/invoices/{january['invoice_id']}/document")
    assert document.status_code == 200 and "Correction 2035-12" in document.text

    for _ in range(2):  # repeated runs and regenerates bill each difference once
        await run(gateway, "2036-01")
        r = await gateway.post("/api/v1/invoices/regenerate", json={"period": "2036-01"})
        assert r.status_code == 200, r.text
    again = await invoice(gateway, o, "2036-01")
    assert again is not None and lines_of(again) == lines_of(january)

    await run(gateway, "2036-02")
    february = await invoice(gateway, o, "2036-02")
    assert february is not None
    assert lines_of(february) == [("REGULAR", "60.00"), ("ADJUSTMENT", "-41.61")]
    assert february["lines"][1]["description"] == (
        f"Credit brought forward from {january['invoice_id']}"
    )
    assert february["amount"] == "18.39"


async def test_late_activation_after_the_run_is_corrected_on_the_next_invoice(
    gateway: httpx.AsyncClient,
) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    o = await org(gateway, "Late start")
    await line(gateway, o, "2036-03-01", plan_id=a)
    await run(gateway, "2036-04")
    april = await invoice(gateway, o, "2036-04")
    assert april is not None and april["amount"] == "150.00"
    await approve(gateway, april)
    await line(gateway, o, "2036-04-16", plan_id=a)  # activated after April was invoiced
    await run(gateway, "2036-05")
    may = await invoice(gateway, o, "2036-05")
    assert may is not None
    # April owed 150 x 15/30 = 75.00 for the late line.
    assert lines_of(may) == [("REGULAR", "150.00"), ("REGULAR", "150.00"), ("ADJUSTMENT", "75.00")]
    assert may["amount"] == "375.00"


async def test_late_usage_after_approval_is_billed_once(gateway: httpx.AsyncClient) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    o = await org(gateway, "Late usage")
    number = await line(gateway, o, "2036-06-01", plan_id=a)
    await usage(gateway, number, {"2036-06-10": "60"})
    await run(gateway, "2036-07")
    july = await invoice(gateway, o, "2036-07")
    assert july is not None
    assert lines_of(july) == [("REGULAR", "150.00"), ("OVERAGE", "21.25")]  # 10 GB x 2.125
    await approve(gateway, july)
    await usage(gateway, number, {"2036-06-30": "8"})  # late: June is now 68 GB
    await run(gateway, "2036-08")
    august = await invoice(gateway, o, "2036-08")
    assert august is not None
    # June's overage is now 18 x 2.125 = 38.25, billed 21.25: +17.00, once.
    assert lines_of(august) == [("REGULAR", "150.00"), ("ADJUSTMENT", "17.00")]
    r = await gateway.post("/api/v1/invoices/regenerate", json={"period": "2036-08"})
    assert r.status_code == 200
    again = await invoice(gateway, o, "2036-08")
    assert again is not None and lines_of(again) == lines_of(august)


async def test_price_versions_bill_each_period_at_its_own_terms(
    gateway: httpx.AsyncClient,
) -> None:
    p = await plan(
        gateway, "Versioned", monthly_price="100", allowance_gb="20", overage_price_per_gb="1"
    )
    o = await org(gateway, "Prices")
    number = await line(gateway, o, "2036-09-01", plan_id=p)
    r = await gateway.patch(
        f"/api/v1/plans/{p}",
        json={"effective_from": "2036-10", "monthly_price": "120", "allowance_gb": "30"},
    )
    assert r.status_code == 200, r.text
    assert [v["effective_from"] for v in r.json()["versions"]] == ["2036-10"]
    assert r.json()["versions"][0]["overage_price_per_gb"] == "1.00"
    await usage(gateway, number, {"2036-09-15": "25", "2036-10-15": "25"})
    await run(gateway, "2036-10")
    october = await invoice(gateway, o, "2036-10")
    assert october is not None
    # October's price 120.00; September's overage at September's terms: 25 - 20 = 5 x 1.
    assert lines_of(october) == [("REGULAR", "120.00"), ("OVERAGE", "5.00")]
    await approve(gateway, october)
    r = await gateway.patch(
        f"/api/v1/plans/{p}", json={"effective_from": "2036-10", "monthly_price": "110"}
    )
    assert r.status_code == 200, r.text
    await run(gateway, "2036-11")
    november = await invoice(gateway, o, "2036-11")
    assert november is not None
    # November at 110.00 (October's version now); October's 25 GB within 30: no overage;
    # October was billed 120.00, is due 110.00: -10.00.
    assert lines_of(november) == [("REGULAR", "110.00"), ("ADJUSTMENT", "-10.00")]
    assert november["amount"] == "100.00"


async def test_paid_in_part_before_sending_can_be_approved_and_sent(
    gateway: httpx.AsyncClient,
) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    o = (
        await created(
            gateway,
            "organizations",
            {"name": f"Early payer {tag()}", "customer_emails": ["ap@example.com"]},
        )
    )["id"]
    await line(gateway, o, "2037-01-01", plan_id=a)
    await run(gateway, "2037-01")
    detail = await invoice(gateway, o, "2037-01")
    assert detail is not None
    r = await gateway.post(
        f"/api/v1/invoices/{detail['invoice_id']}/payments",
        json={"amount": "40.00", "received_on": "2037-01-05", "method": "ACH"},
        headers={"Idempotency-Key": tag()},
    )
    assert r.status_code == 201, r.text

    async def partial() -> dict[str, Any] | None:
        return await invoice(gateway, o, "2037-01")

    from tests.integration.helpers import eventually

    paid = await eventually(partial, lambda d: d is not None and d["status"] == "PARTIAL_PAID")
    assert paid is not None and "approve" in paid["allowed_actions"]
    await approve(gateway, paid)
    sent = await gateway.post(
        f"/api/v1/invoices/{detail['invoice_id']}/send", json={"to": "customer"}
    )
    assert sent.status_code == 202, sent.text
    done = await eventually(partial, lambda d: d is not None and d["sent"])
    assert done is not None and done["status"] == "PARTIAL_PAID"
    assert Decimal(done["balance"]) == Decimal("110.00")


async def test_catalog_changes_are_refused_clearly(gateway: httpx.AsyncClient) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    o, other = await org(gateway, "Refusals"), await org(gateway, "Elsewhere")
    foreign_pool = (
        await created(
            gateway,
            "sub-pools",
            {
                "org_id": other,
                "name": f"Pool {tag()}",
                "monthly_price": "1",
                "allowance_gb": "1",
                "overage_price_per_gb": "1",
            },
        )
    )["id"]
    number = await line(gateway, o, "2037-03-01", plan_id=a)
    cases = [
        ({"effective_on": "2037-04-01", "plan_id": "plan_none"}, "plan_id"),
        ({"effective_on": "2037-04-01", "sub_pool_id": "pool_none"}, "sub_pool_id"),
        ({"effective_on": "2037-04-01", "org_id": "org_none"}, "org_id"),
        ({"effective_on": "2037-04-01", "sub_pool_id": foreign_pool}, "sub_pool_id"),
        ({"effective_on": "2037-02-01", "plan_id": a}, "effective_on"),
    ]
    for body, field in cases:
        r = await gateway.post(f"/api/v1/service-lines/{number}/changes", json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.json()["error"].get("fields", {}), (body, r.text)
    both = await gateway.post(
        f"/api/v1/service-lines/{number}/changes",
        json={"effective_on": "2037-04-01", "plan_id": a, "sub_pool_id": foreign_pool},
    )
    assert both.status_code == 422
    early = await gateway.patch(f"/api/v1/service-lines/{number}", json={"active_to": "2037-01-31"})
    assert early.status_code == 422 and "active_to" in early.json()["error"]["fields"]
    missing = await gateway.get("/api/v1/service-lines/AST-LC-none")
    assert missing.status_code == 404
    renamed = await gateway.patch(f"/api/v1/service-lines/{number}", json={"name": "Flagship"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Flagship"
    reopened = await gateway.patch(f"/api/v1/service-lines/{number}", json={"active_to": None})
    assert reopened.status_code == 200 and reopened.json()["active_to"] is None
    patched = await gateway.patch(f"/api/v1/organizations/{o}", json={"payment_terms_days": 45})
    assert patched.status_code == 200 and patched.json()["payment_terms_days"] == 45
    loop = await gateway.patch(f"/api/v1/organizations/{o}", json={"parent_id": o})
    assert loop.status_code == 422
    audit = (await gateway.get("/api/v1/audit", params={"limit": 100})).json()["items"]
    updated = [x for x in audit if x["action"] == "organizations.update" and x["subject"] == o]
    assert updated and updated[0]["detail"]["before"]["payment_terms_days"] == 30
    assert updated[0]["detail"]["after"]["payment_terms_days"] == 45


async def test_manual_adjustments_survive_a_regenerate_and_gaps_are_unassigned(
    gateway: httpx.AsyncClient,
) -> None:
    a = await plan(gateway, "Per GB", **PER_GB)
    o = await org(gateway, "Manual")
    number = await line(gateway, o, "2037-05-01", plan_id=a)
    await gateway.patch(f"/api/v1/service-lines/{number}", json={"active_to": "2037-05-10"})
    await created(
        gateway,
        "service-lines",
        {  # back from May 21: May 11-20 uncovered
            "service_line_number": number,
            "name": "Vessel",
            "org_id": o,
            "plan_id": a,
            "active_from": "2037-05-21",
        },
    )
    history = (await gateway.get(f"/api/v1/service-lines/{number}")).json()["assignments"]
    assert [(x["active_from"], x["active_to"]) for x in history] == [
        ("2037-05-01", "2037-05-10"),
        ("2037-05-21", None),
    ]
    await usage(gateway, number, {"2037-05-05": "30", "2037-05-15": "99", "2037-05-25": "40"})
    await run(gateway, "2037-06")
    june = await invoice(gateway, o, "2037-06")
    assert june is not None
    # May: on A May 1-10 (30 GB, allowance 50 x 10/31: 16.129 -> 13.870968 over x 2.125 =
    # 29.48) and again from May 21 (40 GB, allowance 50 x 11/31 = 17.742 -> 22.258 x 2.125 =
    # 47.30); the 99 GB of May 15 fall on no assignment: never billed.
    assert lines_of(june) == [("REGULAR", "150.00"), ("OVERAGE", "29.48"), ("OVERAGE", "47.30")]
    unassigned = (await gateway.get("/api/v1/usage/unassigned")).json()["items"]
    gap = [x for x in unassigned if x["service_line_number"] == number]
    assert gap == [
        {
            "service_line_number": number,
            "first_day": "2037-05-15",
            "last_day": "2037-05-15",
            "days_with_usage": 1,
            "priority_gb": "99",
        }
    ]
    edited = [
        {
            k: x[k]
            for k in (
                "type",
                "description",
                "amount",
                "quantity",
                "service_line_number",
                "plan_name",
            )
        }
        for x in june["lines"]
    ] + [{"type": "ADJUSTMENT", "description": "Goodwill discount", "amount": "-10.00"}]
    r = await gateway.patch(
        f"/api/v1/invoices/{june['invoice_id']}", json={"lines": edited, "reason": "goodwill"}
    )
    assert r.status_code == 200, r.text
    await usage(gateway, number, {"2037-05-26": "2"})  # late usage, the invoice still open
    r = await gateway.post("/api/v1/invoices/regenerate", json={"period": "2037-06", "org_id": o})
    assert r.status_code == 200 and r.json()["regenerated"] == [june["invoice_id"]], r.text
    again = await invoice(gateway, o, "2037-06")
    assert again is not None
    # 42 GB from May 21: 24.258 over x 2.125 = 51.55; the manual line stays.
    assert lines_of(again) == [
        ("REGULAR", "150.00"),
        ("OVERAGE", "29.48"),
        ("OVERAGE", "51.55"),
        ("ADJUSTMENT", "-10.00"),
    ]
