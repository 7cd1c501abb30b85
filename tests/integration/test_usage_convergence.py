"""Every accepted GB reaches the invoice (issue 12), on the real stack.

The workload of `usage_workload` (revisions that lower a day, duplicates, shuffled batches,
records and Starlink pages): the invoicing service's copy equals the usage service's for every
line and month, and a billing run requested the moment the last batch was accepted bills
exactly what the rules give, computed by hand."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from devstack.stack import Stack
from shared.kafka import partition_for
from tests.integration import usage_workload as wl
from tests.integration.helpers import eventually, read_topic

pytestmark = pytest.mark.integration

FIGURES = ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")


async def copy_of(db: asyncpg.Pool, lines: list[str], month: date) -> dict[str, dict[str, Any]]:
    rows = await db.fetch(
        "SELECT service_line_number, days_with_usage AS days, priority_gb, opt_in_priority_gb,"
        " standard_gb, non_billable_gb FROM invoicing.line_month_usage"
        " WHERE service_line_number = ANY($1) AND month = $2",
        lines,
        month,
    )
    return {r["service_line_number"]: {k: r[k] for k in ("days", *FIGURES)} for r in rows}


async def invoices_of(gateway: httpx.AsyncClient, org_ids: dict[int, str], period: str) -> Any:
    amounts: dict[int, Decimal] = {}
    for org, org_id in org_ids.items():
        r = await gateway.get("/api/v1/invoices", params={"org_id": org_id, "limit": 100})
        assert r.status_code == 200, r.text
        mine = [i for i in r.json()["items"] if i["period"] == period and i["org_id"] == org_id]
        if mine:
            assert len(mine) == 1
            amounts[org] = Decimal(mine[0]["amount"])
    return amounts


async def check(gateway: httpx.AsyncClient, from_month: str) -> dict[str, Any]:
    r = await gateway.get("/api/v1/usage/check", params={"from": from_month})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def resync(gateway: httpx.AsyncClient, from_month: str) -> dict[str, Any]:
    """Start a resync job and wait for it to finish (a running one is waited for first)."""
    for _ in range(600):
        r = await gateway.post("/api/v1/usage/resync", json={"from": from_month})
        if r.status_code == 202:
            break
        assert r.status_code == 409, r.text
        await asyncio.sleep(0.2)
    job = r.json()

    async def state() -> dict[str, Any]:
        return dict((await gateway.get(f"/api/v1/usage/resync/{job['id']}")).json())

    return await eventually(state, lambda j: j["state"] != "running", timeout=300)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_revised_duplicated_shuffled_usage_is_billed_exactly(
    gateway: httpx.AsyncClient, db: asyncpg.Pool, seed: int
) -> None:
    # Usage months two apart: no seed's lines start in a month another seed has billed (that
    # would be a late activation, corrected on the invoice: issue 13).
    w = wl.build(
        seed, f"C{seed}{random.Random(seed).randrange(10**4):04d}", date(2031, 2 * seed - 1, 1)
    )
    org_ids = await wl.create_catalog(gateway, w)
    await wl.push_all(gateway, w)

    # The run is requested the moment the last batch was accepted: it waits for that usage.
    r = await gateway.post("/api/v1/billing-runs", json={"period": w.period}, timeout=300)
    assert r.status_code == 200, r.text
    assert "usage_wait_ms" in r.json()

    want = w.month_figures()
    lines = [line.number for line in w.lines]
    got = await copy_of(db, lines, w.month)
    assert got == want  # the copy is exact right after the run, not eventually
    last_day = (w.month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    for line in lines[:: len(lines) // 5]:  # and the usage API shows the same figures
        usage = await gateway.get(
            f"/api/v1/service-lines/{line}/usage",
            params={"from": w.month.isoformat(), "to": last_day.isoformat()},
        )
        assert len(usage.json()["days"]) == want[line]["days"]
        assert Decimal(usage.json()["totals"]["priority_gb"]) == want[line]["priority_gb"]

    assert await invoices_of(gateway, org_ids, w.period) == w.expected_amounts()
    result = await check(gateway, w.month.isoformat()[:7])
    assert result["consistent"], result["differences"][:5]
    assert result["service_lines"] >= len(lines)

    # Regenerating recomputes the same figures (nothing was approved): nothing changes.
    regen = await gateway.post(
        "/api/v1/invoices/regenerate", json={"period": w.period}, timeout=300
    )
    assert regen.status_code == 200, regen.text
    assert await invoices_of(gateway, org_ids, w.period) == w.expected_amounts()


async def test_a_line_on_two_partitions_is_decided_by_observed_at(
    stack: Stack, gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    """A feed whose client does not partition by murmur2 (librdkafka's default) spreads one
    line's records over partitions: the newest observed_at still wins, whatever arrives last."""
    line, day = "AST-XPART-0001", "2031-06-10"
    versions = [
        (f"2031-06-11T0{h}:00:00Z", f"{gb}") for h, gb in ((1, "9.5"), (5, "3.25"), (3, "7"))
    ]
    producer = AIOKafkaProducer(bootstrap_servers=stack.config.bootstrap)
    await producer.start()
    try:
        for repeat in range(3):  # each version on every partition, newest first on some
            for n, (observed, gb) in enumerate(reversed(versions) if repeat % 2 else versions):
                event = {
                    "event_id": f"6f1c1f1e-0000-4a4a-8b8b-{repeat:04d}{n:08d}",
                    "type": "usage.snapshots_received",
                    "occurred_at": "2031-06-11T06:00:00Z",
                    "source": "kcat",
                    "service_line_number": line,
                    "snapshots": [{"date": day, "priority_gb": gb, "observed_at": observed}],
                }
                await producer.send_and_wait(
                    "usage.raw", orjson.dumps(event), key=line.encode(), partition=(n + repeat) % 6
                )
    finally:
        await producer.stop()

    async def stored() -> tuple[Any, Any]:
        a = await db.fetchval(
            "SELECT priority_gb FROM usage.daily_usage WHERE service_line_number = $1", line
        )
        b = await db.fetchval(
            "SELECT priority_gb FROM invoicing.line_daily_usage WHERE service_line_number = $1",
            line,
        )
        return a, b

    assert await eventually(stored, lambda v: v == (Decimal("3.25"), Decimal("3.25")))


async def test_a_run_right_after_50000_records_bills_all_of_them(
    gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    tag = f"B{random.randrange(10**6):06d}"
    org = (await gateway.post("/api/v1/organizations", json={"name": f"Bulk {tag}"})).json()
    plan = (
        await gateway.post(
            "/api/v1/plans",
            json={
                "name": f"Bulk {tag}",
                "monthly_price": "10",
                "allowance_gb": "1",
                "overage_price_per_gb": "0.5",
            },
        )
    ).json()
    lines = [f"AST-{tag}-{n:04d}" for n in range(100)]
    for line in lines:  # every line in the catalog: nothing is left unassigned
        r = await gateway.post(
            "/api/v1/service-lines",
            json={
                "service_line_number": line,
                "name": line[-4:],
                "org_id": org["id"],
                "plan_id": plan["id"],
                "active_from": "2032-01-01",
            },
        )
        assert r.status_code == 201, r.text
    last = date(2032, 1, 31)
    records = [  # 500 days of each line, the last 31 in January 2032
        {
            "service_line_number": line,
            "date": (last - timedelta(days=d)).isoformat(),
            "priority_gb": "0.125",
            "observed_at": "2032-02-01T00:00:00Z",
        }
        for line in lines
        for d in range(500)
    ]
    started = time.monotonic()

    async def push(chunk: list[dict[str, Any]]) -> None:
        for _ in range(600):
            r = await gateway.post("/api/v1/usage/records", json={"records": chunk}, timeout=60)
            if r.status_code != 429:
                break
            await asyncio.sleep(0.1)
        assert r.status_code == 202 and r.json()["accepted"] == len(chunk), r.text

    await asyncio.gather(*(push(records[i : i + 5000]) for i in range(0, len(records), 5000)))
    r = await gateway.post("/api/v1/billing-runs", json={"period": "2032-02"}, timeout=300)
    assert r.status_code == 200, r.text
    elapsed = time.monotonic() - started
    total = await db.fetchval(
        "SELECT sum(days_with_usage) FROM invoicing.line_month_usage"
        " WHERE service_line_number = ANY($1)",
        lines,
    )
    assert total == 50_000, f"{total} of 50000 days in the copy after {elapsed:.1f}s"
    invoice = await gateway.get("/api/v1/invoices", params={"org_id": org["id"]})
    # each line: 31 days x 0.125 = 3.875 GB in January, 2.875 over x 0.50 = 1.4375 -> 1.44;
    # + 10.00 regular = 11.44; 100 lines
    assert [i["amount"] for i in invoice.json()["items"]] == ["1144.00"]


def _without(column: str) -> str:
    return f"{column} = {column}[:i.i - 1] || {column}[i.i + 1:]"


async def drop_day(db: asyncpg.Pool, line: str, day: date) -> None:
    """Take one day out of the copy: out of every array of its month, in both tables."""
    month = day.replace(day=1)
    await db.execute(
        "WITH i AS (SELECT array_position(day_numbers, $3::smallint) AS i"
        "  FROM invoicing.line_month_usage WHERE service_line_number = $1 AND month = $2),"
        " sums AS (UPDATE invoicing.line_month_usage SET days_with_usage = days_with_usage - 1,"
        f" {_without('day_numbers')}, {_without('day_priority_gb')} FROM i"
        "  WHERE service_line_number = $1 AND month = $2)"
        f" UPDATE invoicing.line_month_days SET {_without('day_opt_in_priority_gb')},"
        f" {_without('day_standard_gb')}, {_without('day_non_billable_gb')},"
        f" {_without('day_observed_at')} FROM i WHERE service_line_number = $1 AND month = $2",
        line,
        month,
        day.day,
    )


async def test_the_check_finds_a_planted_difference_and_resync_repairs_it(
    gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    line = f"AST-PLANT-{random.randrange(10**6):06d}"
    records = [
        {
            "service_line_number": line,
            "date": f"2030-06-{d:02d}",
            "priority_gb": f"{d}.5",
            "observed_at": "2030-07-01T00:00:00Z",
        }
        for d in range(1, 11)
    ]
    assert (
        await gateway.post("/api/v1/usage/records", json={"records": records})
    ).status_code == 202

    async def month_total() -> Any:
        return await db.fetchval(
            "SELECT priority_gb FROM invoicing.line_month_usage WHERE service_line_number = $1",
            line,
        )

    assert await eventually(month_total, lambda v: v == Decimal("60"))
    assert (await check(gateway, "2030-06"))["consistent"]
    # Plant: a month sum moved by hand, and a day lost from the copy (its sums left as they
    # were).
    await db.execute(
        "UPDATE invoicing.line_month_usage SET priority_gb = priority_gb + 1.25"
        " WHERE service_line_number = $1",
        line,
    )
    await drop_day(db, line, date(2030, 6, 3))
    found = await check(gateway, "2030-06")
    assert not found["consistent"]
    assert {
        (d["service_line_number"], d["month"], d["figure"], d["usage"], d["invoicing"])
        for d in found["differences"]
    } == {(line, "2030-06", "priority_gb", "60", "61.25"), (line, "2030-06", "days", "10", "9")}

    job = await resync(gateway, "2030-06")
    assert job["days"] >= 10 and job["state"] == "done"
    repaired = await eventually(
        lambda: check(gateway, "2030-06"), lambda c: bool(c["consistent"]), timeout=60
    )
    assert repaired["differences"] == []
    assert (
        await db.fetchval(
            "SELECT count(*) FROM invoicing.line_daily_usage WHERE service_line_number = $1", line
        )
        == 10
    )


async def test_a_line_that_cannot_be_applied_is_an_alarm_not_a_loss(
    stack: Stack, gateway: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    """One line of a message refused by the database (a rule planted for the test): its
    neighbours in the same message are applied; it is retried alone, then kept with the reason,
    counted, shown in /readyz and in the check; once the rule is gone a resync applies it."""
    tag = f"{random.randrange(10**6):06d}"
    poison = f"AST-POISON-{tag}"
    good = next(  # a neighbour on the same partition, so both ride in one message
        f"AST-GOOD-{tag}-{n}"
        for n in range(1000)
        if partition_for(f"AST-GOOD-{tag}-{n}") == partition_for(poison)
    )
    await db.execute(
        f"ALTER TABLE invoicing.line_month_usage ADD CONSTRAINT refuse_{tag}"
        f" CHECK (service_line_number <> '{poison}') NOT VALID"
    )
    try:
        records = [
            {
                "service_line_number": sln,
                "date": "2030-03-05",
                "priority_gb": "4.5",
                "observed_at": "2030-03-06T00:00:00Z",
            }
            for sln in (poison, good)
        ]
        r = await gateway.post("/api/v1/usage/records", json={"records": records})
        assert r.status_code == 202

        async def failures() -> list[Any]:
            return list(
                await db.fetch(
                    "SELECT reason FROM invoicing.usage_apply_failures"
                    " WHERE service_line_number = $1 AND resolved_at IS NULL",
                    poison,
                )
            )

        kept = await eventually(failures, lambda f: len(f) == 1)
        assert "refuse_" in kept[0]["reason"]

        async def neighbour() -> Any:  # its message may be another partition's: wait for it
            return await db.fetchval(
                "SELECT priority_gb FROM invoicing.line_daily_usage WHERE service_line_number = $1",
                good,
            )

        assert await eventually(neighbour, lambda v: v is not None) == Decimal("4.5")
        found = await check(gateway, "2030-03")
        assert not found["consistent"]
        assert [f["service_line_number"] for f in found["apply_failures"]] == [poison]
        assert any(d["service_line_number"] == poison for d in found["differences"])
        invoicing = stack.config.service_urls("invoicing")[0]
        async with httpx.AsyncClient(timeout=30) as plain:

            async def detail() -> dict[str, Any]:
                body = (await plain.get(invoicing + "/readyz")).json()
                return dict(body.get("detail") or {})

            alarm = await eventually(detail, lambda d: d.get("usage_apply_failures", 0) >= 1)
            assert alarm["alarm"] is True
        async with httpx.AsyncClient() as plain:
            metrics = (await plain.get(stack.config.service_urls("invoicing")[0] + "/metrics")).text
        counted = [
            m for m in metrics.splitlines() if m.startswith("billport_usage_apply_failures_total")
        ]
        assert counted and float(counted[0].split()[-1]) >= 1
    finally:
        await db.execute(f"ALTER TABLE invoicing.line_month_usage DROP CONSTRAINT refuse_{tag}")
    await resync(gateway, "2030-03")
    healed = await eventually(
        lambda: check(gateway, "2030-03"), lambda c: bool(c["consistent"]), timeout=60
    )
    assert healed["apply_failures"] == []


async def test_both_schemas_of_usage_raw_in_one_batch_keep_the_latest_of_each_day(
    stack: Stack, db: asyncpg.Pool
) -> None:
    """`usage.raw` as the gateway writes it (schema 2, columns), as a feed writes it (schema 1
    records, one-line snapshots), a repeat and a poison message, sent together so the consumer
    takes them in one batch: each day ends with its newest snapshot (figures by hand below),
    the repeat changes nothing, the poison one is dead-lettered with its reason."""
    line, tag = f"AST-MIX-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    d1, d2 = "2031-07-01", "2031-07-02"
    t1, t2, t3 = (f"2031-07-03T0{h}:00:00Z" for h in (1, 2, 3))

    def envelope(n: int, kind: str, schema: int) -> dict[str, Any]:
        return {
            "event_id": f"6f1c1f1e-0000-4b4b-8c8c-{tag[:4]}{n:08d}",
            "type": kind,
            "occurred_at": t3,
            "schema_version": schema,
            "source": "mixed",
        }

    def columns(*days: tuple[str, str, str, str]) -> dict[str, str]:
        return {
            "service_line_number": ",".join(line for _ in days),
            "date": ",".join(d for d, _, _, _ in days),
            "priority_gb": ",".join(p for _, p, _, _ in days),
            "opt_in_priority_gb": ",".join(o for _, _, o, _ in days),
            "standard_gb": ",".join("0" for _ in days),
            "non_billable_gb": ",".join("0" for _ in days),
            "observed_at": ",".join(t for _, _, _, t in days),
        }

    v2 = {**envelope(1, "usage.records_received", 2),
          "columns": columns((d1, "5", "0", t2), (d2, "4", "0", t1))}  # fmt: skip
    v1 = {
        **envelope(2, "usage.records_received", 1),
        "records": [  # d1 older than v2's (loses), d2 newer (wins)
            {"service_line_number": line, "date": d1, "priority_gb": "8", "observed_at": t1},
            {"service_line_number": line, "date": d2, "priority_gb": "6", "observed_at": t3},
        ],
    }
    one_line = {
        **envelope(3, "usage.snapshots_received", 1),
        "service_line_number": line,
        "snapshots": [{"date": d1, "priority_gb": "2", "observed_at": t3}],  # d1's newest
    }
    poison = {**envelope(4, "usage.records_received", 2),  # opt-in above priority
              "columns": columns((d1, "1", "3", "2031-07-04T00:00:00Z"))}  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=stack.config.bootstrap)
    await producer.start()
    try:
        sent = [
            await producer.send("usage.raw", orjson.dumps(e), key=line.encode())
            for e in (v2, v1, one_line, v2, poison)  # v2 twice: the repeat
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    async def stored() -> list[tuple[str, Any, Any]]:
        rows = await db.fetch(
            "SELECT u.day::text AS day, u.priority_gb AS a, i.priority_gb AS b"
            " FROM usage.daily_usage u LEFT JOIN invoicing.line_daily_usage i"
            " USING (service_line_number, day) WHERE u.service_line_number = $1 ORDER BY 1",
            line,
        )
        return [(r["day"], r["a"], r["b"]) for r in rows]

    want = [(d1, Decimal("2"), Decimal("2")), (d2, Decimal("6"), Decimal("6"))]
    assert await eventually(stored, lambda rows: rows == want)

    async def letters() -> list[dict[str, Any]]:
        found = []
        for rec in await read_topic(stack.config.bootstrap, "usage.raw.dlq"):
            letter = orjson.loads(rec.value)
            if tag[:4] + "00000004" in letter["payload"]:
                found.append(letter)
        return found

    dead = await eventually(letters, lambda found: len(found) == 1)
    assert "opt_in_priority_gb" in dead[0]["reason"] and "cannot exceed" in dead[0]["reason"]
