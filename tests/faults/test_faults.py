"""Proof under faults (`make test-faults`, part of `make test`): in each run 200,000 usage
records, 5,000 payment postings and 500 send requests stream in while one part of the stack is
killed with SIGKILL and restarted (each service, the gateway, the Kafka broker) or PostgreSQL
is restarted. Afterwards every total is exact: daily usage per service line, each invoice's
payments and balance, the ledger, one e-mail per send request. Finally every topic is read
again from the beginning by fresh consumer groups, and nothing changes."""

from __future__ import annotations

import asyncio
import email
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from devstack.stack import SERVICES, Stack
from shared.events.topics import ALL_TOPICS, PARTITIONS
from tests.faults import load
from tests.faults.conftest import TOKEN
from tests.integration.helpers import eventually

pytestmark = pytest.mark.faults
FAULTS = ["usage-1", "invoicing-2", "payments-0", "notifier-0", "gateway", "kafka", "postgres"]
SETTLE = 240.0


async def query(stack: Stack, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(stack.config.dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def inject(stack: Stack, fault: str) -> None:
    await asyncio.sleep(4)  # the load is flowing
    if fault == "kafka":
        await asyncio.to_thread(stack.restart_kafka)
    elif fault == "postgres":
        await asyncio.to_thread(stack.restart_postgres)
    else:
        stack.kill(fault)
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.restart, fault)


def mails_by_id(stack: Stack) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in (stack.config.home / "mail").glob("*.eml"):
        found[email.message_from_bytes(path.read_bytes())["Message-ID"]] += 1
    return found


@pytest.mark.parametrize("fault", FAULTS)
async def test_exact_totals_after_a_fault(
    fault_stack: Stack, client: httpx.AsyncClient, fault: str
) -> None:
    stack, run = fault_stack, f"F{FAULTS.index(fault)}"
    paying = await load.invoices_for(client, run, load.PAYMENT_INVOICES, contact=False)
    sending = await load.invoices_for(client, run, load.SEND_INVOICES, contact=True)
    _, requests, _, _ = await asyncio.gather(
        load.push_usage(client, run),
        load.request_sends(client, run, sending),
        load.post_payments(client, run, paying),
        inject(stack, fault),
    )

    rows, total = load.expected_usage(run)
    lines = [load.line(run, i) for i in range(load.LINES)]

    async def usage_totals() -> tuple[int, int, Decimal]:
        daily = await query(
            stack,
            "SELECT count(*) AS n, coalesce(sum(priority_gb), 0) AS gb FROM usage.daily_usage"
            " WHERE service_line_number = ANY($1)",
            lines,
        )
        monthly = await query(
            stack,
            "SELECT coalesce(sum(priority_gb), 0) AS gb FROM invoicing.line_month_usage"
            " WHERE service_line_number = ANY($1)",
            lines,
        )
        return daily[0]["n"], daily[0]["gb"], monthly[0]["gb"]

    assert await eventually(usage_totals, lambda u: u == (rows, total, total), SETTLE) == (
        rows,
        total,
        total,
    )

    async def invoice_figures() -> list[tuple[str, str, str]]:
        found = await query(
            stack,
            "SELECT payments, balance, status FROM invoicing.invoices WHERE invoice_id = ANY($1)",
            paying,
        )
        return sorted((str(r["payments"]), str(r["balance"]), r["status"]) for r in found)

    want = [("100.00", "0.00", "PAYMENT_DONE")] * len(paying)
    assert await eventually(invoice_figures, lambda f: f == want, SETTLE) == want
    postings = await query(
        stack,
        "SELECT invoice_id, count(*) AS n, sum(amount) AS paid FROM payments.payments"
        " WHERE invoice_id = ANY($1) AND reversed_at IS NULL GROUP BY invoice_id",
        paying,
    )
    assert sorted((r["n"], r["paid"]) for r in postings) == [
        (load.POSTINGS_EACH, Decimal("100.00"))
    ] * len(paying)
    check = (await client.get("/api/v1/payments/ledger-check")).json()
    assert check["balanced"], check["problems"]
    copy = (await client.get("/api/v1/payments/invoice-check", timeout=300)).json()
    assert copy["consistent"], copy["differences"][:5]

    wanted_ids = {f"<{r}@billport.local>" for r in requests}
    assert len(wanted_ids) == load.SEND_INVOICES * load.SENDS_EACH

    async def sent() -> Counter[str]:
        mails = await asyncio.to_thread(mails_by_id, stack)
        return Counter({k: v for k, v in mails.items() if k in wanted_ids})

    delivered = await eventually(sent, lambda m: len(m) == len(wanted_ids), SETTLE)
    await asyncio.sleep(6)  # a doubled send would have arrived by now (leases are 5 s)
    delivered = await sent()
    assert set(delivered) == wanted_ids and set(delivered.values()) == {1}
    states = await query(
        stack,
        "SELECT state, count(*) AS n FROM invoicing.send_requests WHERE request_id = ANY($1)"
        " GROUP BY state",
        list(requests),
    )
    assert {r["state"]: r["n"] for r in states} == {"SENT": len(wanted_ids)}
    await usage_copy_consistent(client)
    if fault == "postgres":  # each relay listens on a new connection, not on the 1 s poll alone
        found = await relistens(stack)
        assert min(found.values()) >= 1, found


async def relistens(stack: Stack) -> dict[str, float]:
    """`billport_outbox_relistens_total` of every service process."""
    found: dict[str, float] = {}
    async with httpx.AsyncClient() as plain:
        for service in SERVICES:
            for i, url in enumerate(stack.config.service_urls(service)):
                text = (await plain.get(url + "/metrics")).text
                lines = [x for x in text.splitlines() if x.startswith("billport_outbox_relistens_")]
                found[f"{service}-{i}"] = sum(float(x.split()[-1]) for x in lines if "total{" in x)
    return found


async def usage_copy_consistent(client: httpx.AsyncClient) -> None:
    """The invoicing service's usage equals the usage service's, line by line and month by
    month (`billport usage check`), with no usage left unapplied."""
    r = await client.get("/api/v1/usage/check", params={"from": "1900-01"}, timeout=300)
    assert r.status_code == 200, r.text
    check = r.json()
    assert check["consistent"], (check["differences"][:5], check["apply_failures"][:5])


async def snapshot(stack: Stack) -> dict[str, Any]:
    """Every figure the consumers derive, summed: usage, invoices, payments, sends."""
    figures: dict[str, Any] = {}
    for name, sql in {
        "daily": "SELECT count(*), sum(priority_gb) FROM usage.daily_usage",
        "monthly": "SELECT count(*), sum(priority_gb), sum(days_with_usage)"
        " FROM invoicing.line_month_usage",
        "invoices": "SELECT count(*), sum(payments), sum(balance), string_agg(status, ''"
        " ORDER BY invoice_id) FROM invoicing.invoices",
        "invoice_payments": "SELECT count(*), sum(amount) FILTER (WHERE applied AND NOT reversed)"
        " FROM invoicing.invoice_payments",
        "payments": "SELECT count(*), sum(amount), sum(paid) FROM payments.payments,"
        " (SELECT sum(paid) AS paid FROM payments.invoices) AS p",
        "ledger": "SELECT count(*), sum(amount) FROM payments.ledger_entries",
        "sends": "SELECT count(*), string_agg(state, '' ORDER BY request_id) FROM notifier.sends",
        "requests": "SELECT count(*), string_agg(state, '' ORDER BY request_id)"
        " FROM invoicing.send_requests",
    }.items():
        figures[name] = [tuple(r) for r in await query(stack, sql)]
    figures["mails"] = sum((await asyncio.to_thread(mails_by_id, stack)).values())
    return figures


async def caught_up(stack: Stack, groups: list[str]) -> bool:
    """Every group `<group>.<topic>` has committed its topic's end (a topic with no message
    has nothing to commit)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.config.bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.config.bootstrap)
    await admin.start()
    await consumer.start()
    try:
        for group in groups:
            committed = await admin.list_consumer_group_offsets(group)
            if not committed:
                topic = next(t.name for t in ALL_TOPICS if group.endswith(f".{t.name}"))
                partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
                if any((await consumer.end_offsets(partitions)).values()):
                    return False
                continue
            ends = await consumer.end_offsets(list(committed))
            if any(meta.offset < ends[tp] for tp, meta in committed.items()):
                return False
        return True
    finally:
        await consumer.stop()
        await admin.close()


async def test_replaying_every_topic_changes_nothing(fault_stack: Stack) -> None:
    stack = fault_stack

    async def settled_snapshot() -> dict[str, Any]:
        """The figures once they stop moving (the last run's stragglers are applied)."""
        previous = await snapshot(stack)
        while True:
            await asyncio.sleep(3)
            current = await snapshot(stack)
            if current == previous:
                return current
            previous = current

    before = await asyncio.wait_for(settled_snapshot(), SETTLE)
    readers = {
        "usage": ["usage.raw"],
        "invoicing": ["usage.recorded", "payments.events", "notifier.events"],
        "payments": ["invoicing.events"],
        # the send queue; the alert e-mails (`.mail`); the webhooks (`.webhooks`, 3 topics)
        "notifier": [
            "notifier.commands",
            "mail.usage.alerts",
            "webhooks.invoicing.events",
            "webhooks.payments.events",
            "webhooks.usage.alerts",
        ],
    }
    groups = []
    for service in SERVICES:
        variable = f"BILLPORT_{service.upper()}_CONSUMER_GROUP"
        for name, proc in list(stack.procs.items()):
            if name.startswith(f"{service}-"):
                proc.env[variable] = f"billport-{service}-replay"
                await asyncio.to_thread(stack.restart, name)
        groups += [f"billport-{service}-replay.{topic}" for topic in readers[service]]
    # The gateway's backpressure follows the usage and invoicing groups (a replay included).
    stack.procs["gateway"].env["BILLPORT_GATEWAY_USAGE_CONSUMER_GROUP"] = "billport-usage-replay"
    stack.procs["gateway"].env["BILLPORT_GATEWAY_INVOICING_CONSUMER_GROUP"] = (
        "billport-invoicing-replay"
    )
    await asyncio.to_thread(stack.restart, "gateway")
    read = {t.split(".", 1)[1] if t.startswith(("mail.", "webhooks.")) else t
            for ts in readers.values() for t in ts}  # fmt: skip
    assert read == {t.name for t in ALL_TOPICS}
    await eventually(lambda: caught_up(stack, groups), bool, timeout=SETTLE)
    await asyncio.sleep(3)
    after = await snapshot(stack)
    assert json.dumps(after, default=str) == json.dumps(before, default=str)
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        await usage_copy_consistent(client)
