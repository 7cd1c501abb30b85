"""A realistic, messy usage feed for one month, and the invoices it must produce, computed by
hand from the written rules (api.md "Rules the numbers follow"), never from the code.

25 organizations with 4 service lines each (100 lines) on per-GB and block-overage plans, every
third organization with a sub-pool of two of its lines. Each line has usage on most days, each
day in 1 to 3 versions (the later `observed_at` wins, and a later version is often lower),
20% of the snapshots repeated, everything shuffled so that stale copies often come after newer
ones, pushed in batches of 400, every other batch as a Starlink v2 page (numbers as JSON
numbers, some in exponent form) instead of records.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import orjson

ORGS = 25
LINES_PER_ORG = 4
BATCH = 400
DUPLICATE_SHARE = 0.2
CENT = Decimal("0.01")
FIGURE_NAMES = ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")


@dataclass(frozen=True)
class Plan:
    key: str
    monthly_price: Decimal
    allowance_gb: Decimal
    rate: Decimal | None = None
    block_gb: Decimal | None = None
    block_price: Decimal | None = None

    def body(self, tag: str) -> dict[str, str]:
        body = {
            "name": f"{self.key} {tag}",
            "monthly_price": str(self.monthly_price),
            "allowance_gb": str(self.allowance_gb),
        }
        if self.rate is not None:
            body["overage_price_per_gb"] = str(self.rate)
        else:
            body["overage_block_gb"] = str(self.block_gb)
            body["overage_block_price"] = str(self.block_price)
        return body


PLANS = (
    Plan("Maritime 50", Decimal("150.00"), Decimal("50"), rate=Decimal("2.125")),
    Plan("Land 20", Decimal("80.00"), Decimal("20"), rate=Decimal("3.5")),
    Plan("Aviation blocks", Decimal("420.00"), Decimal("30"), None, Decimal("50"), Decimal("95")),
    Plan("Small blocks", Decimal("60.00"), Decimal("10"), None, Decimal("5"), Decimal("12.50")),
)
POOL_PRICE, POOL_ALLOWANCE, POOL_RATE = Decimal("300.00"), Decimal("80"), Decimal("1.75")


@dataclass(frozen=True)
class Line:
    number: str
    org: int
    plan: int | None  # index into PLANS
    pooled: bool


@dataclass
class Workload:
    seed: int
    tag: str
    month: date  # first day of the usage month; invoices are for the month after
    lines: list[Line]
    snapshots: list[dict[str, Any]]
    pushes: list[tuple[str, bytes]] = field(default_factory=list)  # (path, body)

    @property
    def period(self) -> str:
        following = (self.month + timedelta(days=32)).replace(day=1)
        return following.isoformat()[:7]

    def winners(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Each (line, day): the snapshot of highest precedence (observed_at, then figures)."""
        best: dict[tuple[str, str], dict[str, Any]] = {}
        for s in self.snapshots:
            key = (s["service_line_number"], s["date"])
            if key not in best or _precedence(s) > _precedence(best[key]):
                best[key] = s
        return best

    def month_figures(self) -> dict[str, dict[str, Decimal]]:
        """Each line's sums for the month (every line has usage on some day)."""
        sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for (line, _), s in self.winners().items():
            for figure in FIGURE_NAMES:
                sums[line][figure] += s[figure]
            sums[line]["days"] += 1
        return {line: dict(v) for line, v in sums.items()}

    def expected_amounts(self) -> dict[int, Decimal]:
        """Per organization, the amount of its invoice for `period`: every line and pool is
        active for the whole usage month and the whole period, so regular charges are full
        prices and allowances are not prorated."""
        used = {line: f["priority_gb"] for line, f in self.month_figures().items()}
        amounts: dict[int, Decimal] = defaultdict(Decimal)
        pool_used: dict[int, Decimal] = defaultdict(Decimal)
        for line in self.lines:
            if line.pooled:
                pool_used[line.org] += used.get(line.number, Decimal(0))
                continue
            assert line.plan is not None
            plan = PLANS[line.plan]
            amounts[line.org] += plan.monthly_price
            over = used.get(line.number, Decimal(0)) - plan.allowance_gb
            if over > 0:
                if plan.rate is not None:
                    amounts[line.org] += (over * plan.rate).quantize(CENT, ROUND_HALF_UP)
                else:
                    assert plan.block_gb is not None and plan.block_price is not None
                    blocks = (over / plan.block_gb).to_integral_value(ROUND_CEILING)
                    amounts[line.org] += blocks * plan.block_price
        for org, gb in pool_used.items():
            amounts[org] += POOL_PRICE
            over = gb - POOL_ALLOWANCE
            if over > 0:
                amounts[org] += (over * POOL_RATE).quantize(CENT, ROUND_HALF_UP)
        return dict(amounts)


def _precedence(s: dict[str, Any]) -> tuple[Any, ...]:
    return (
        s["observed_at"],
        s["priority_gb"],
        s["opt_in_priority_gb"],
        s["standard_gb"],
        s["non_billable_gb"],
    )


def build(seed: int, tag: str, month: date) -> Workload:
    rng = random.Random(seed)
    lines = []
    for org in range(ORGS):
        for n in range(LINES_PER_ORG):
            pooled = org % 3 == 0 and n < 2
            plan = None if pooled else rng.randrange(len(PLANS))
            lines.append(Line(f"AST-{tag}-{org:02d}{n}", org, plan, pooled))
    days = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - month
    snapshots = []
    for line in lines:
        heavy = Decimal(rng.choice((1, 2, 3, 5)))
        for d in range(days.days):
            if rng.random() < 0.2:
                continue  # days without usage are left out, as Starlink does
            day = month + timedelta(days=d)
            for version in range(rng.randint(1, 3)):
                snapshots.append(_snapshot(rng, line.number, day, version, heavy))
    repeats = [dict(s) for s in rng.sample(snapshots, int(len(snapshots) * DUPLICATE_SHARE))]
    snapshots += repeats
    rng.shuffle(snapshots)
    workload = Workload(seed, tag, month, lines, snapshots)
    workload.pushes = [
        _push(i, snapshots[i : i + BATCH], month) for i in range(0, len(snapshots), BATCH)
    ]
    return workload


def _snapshot(
    rng: random.Random, line: str, day: date, version: int, heavy: Decimal
) -> dict[str, Any]:
    priority = Decimal(rng.randint(0, 2000)) * heavy / 1000
    opt_in = Decimal(rng.randint(0, int(priority * 1000))) / 1000
    observed = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        hours=2 + 7 * version, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
    )
    return {
        "service_line_number": line,
        "date": day.isoformat(),
        "priority_gb": priority,
        "opt_in_priority_gb": opt_in,
        "standard_gb": Decimal(rng.randint(0, 9999)) / 1000,
        "non_billable_gb": Decimal(rng.randint(0, 50)) / 1000,
        "observed_at": observed,
    }


def _push(index: int, batch: list[dict[str, Any]], month: date) -> tuple[str, bytes]:
    if (index // BATCH) % 2 == 0:
        records = [
            {
                **{k: str(v) for k, v in s.items() if k.endswith("_gb")},
                "service_line_number": s["service_line_number"],
                "date": s["date"],
                "observed_at": s["observed_at"].isoformat().replace("+00:00", "Z"),
            }
            for s in batch
        ]
        return "/api/v1/usage/records", orjson.dumps({"records": records})
    return "/api/v1/usage/starlink", starlink_page(batch, month)


def starlink_page(batch: list[dict[str, Any]], month: date) -> bytes:
    """A Starlink v2 data-usage response: one result per (line, lastUpdated), numbers as JSON
    numbers, every other one written in exponent form (`72345E-3`)."""
    results: dict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for s in batch:
        results[(s["service_line_number"], s["observed_at"])].append(s)
    last = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    content = {
        "pageIndex": 0,
        "limit": 250,
        "isLastPage": True,
        "totalCount": len(results),
        "results": [
            {
                "accountNumber": "ACC-1",
                "serviceLineNumber": line,
                "lastUpdated": observed.isoformat().replace("+00:00", "Z"),
                "billingCycles": [
                    {
                        "startDate": f"{month.isoformat()}T00:00:00Z",
                        "endDate": f"{last.isoformat()}T23:59:59Z",
                        "dailyDataUsage": [_entry(s) for s in entries],
                    }
                ],
            }
            for (line, observed), entries in results.items()
        ],
    }
    text = orjson.dumps({"errors": [], "warnings": [], "isValid": True, "content": content})
    return re.sub(rb'"#(-?[0-9.E+-]+)#"', rb"\1", text)


def _entry(s: dict[str, Any]) -> dict[str, Any]:
    def number(value: Decimal) -> str:
        if int(s["date"][-2:]) % 2:  # odd days in exponent form
            return f"#{int(value * 1000)}E-3#"
        return f"#{value}#"

    return {
        "date": f"{s['date']}T00:00:00Z",
        "priorityGB": number(s["priority_gb"]),
        "optInPriorityGB": number(s["opt_in_priority_gb"]),
        "standardGB": number(s["standard_gb"]),
        "nonBillableGB": number(s["non_billable_gb"]),
    }


async def create_catalog(gateway: httpx.AsyncClient, w: Workload) -> dict[int, str]:
    """Organizations, plans, pools and lines through the gateway; returns org index -> id."""

    async def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await gateway.post(f"/api/v1/{path}", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    plan_ids = [(await created("plans", p.body(w.tag)))["id"] for p in PLANS]
    org_ids: dict[int, str] = {}
    pool_ids: dict[int, str] = {}
    for org in range(ORGS):
        body = {"name": f"Fleet {w.tag} {org:02d}", "payment_terms_days": 30}
        org_ids[org] = (await created("organizations", body))["id"]
        if org % 3 == 0:
            pool = {
                "org_id": org_ids[org],
                "name": f"Pool {w.tag} {org:02d}",
                "monthly_price": str(POOL_PRICE),
                "allowance_gb": str(POOL_ALLOWANCE),
                "overage_price_per_gb": str(POOL_RATE),
            }
            pool_ids[org] = (await created("sub-pools", pool))["id"]
    for line in w.lines:
        body = {
            "service_line_number": line.number,
            "name": f"Vessel {line.number[-3:]}",
            "org_id": org_ids[line.org],
            "active_from": w.month.isoformat(),
        }
        if line.pooled:
            body["sub_pool_id"] = pool_ids[line.org]
        else:
            assert line.plan is not None
            body["plan_id"] = plan_ids[line.plan]
        await created("service-lines", body)
    return org_ids


async def push_all(gateway: httpx.AsyncClient, w: Workload) -> int:
    """Every batch through the gateway (a 429 while usage catches up is retried); returns the
    records accepted."""
    import asyncio

    accepted = 0
    for path, body in w.pushes:
        for _ in range(600):
            r = await gateway.post(path, content=body, headers={"content-type": "application/json"})
            if r.status_code != 429:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 202, r.text
        result = r.json()
        assert result["rejected"] == [], result["rejected"][:3]
        accepted += result["accepted"]
    assert accepted == len(w.snapshots)
    return accepted
