"""Webhooks on the real stack, delivered to a receiver this test runs on a loopback port (the
stack allows plain HTTP and private targets): real events arrive signed, a 500 and a timeout
are retried, a notifier killed mid-batch loses nothing, one invoice's events arrive in order
while another invoice's are not held up, a webhook failing for good is disabled and enabled
again, only admins manage webhooks, and bad URLs are refused with the reason."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from billport_cli.main import main as billport
from devstack.stack import Stack
from services.notifier import webhook_repository
from services.notifier.webhook_repository import After, Attempt, NewDelivery
from services.notifier.webhook_signature import HEADER, verify
from shared.kafka import partition_for
from tests.integration.helpers import eventually, read_topic
from tests.integration.payments_helpers import one_time_invoice, pay

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Received:
    name: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


Answer = Callable[[Received, int], tuple[int, float]]
"""(the request, how many this name received before it) -> (status code, seconds to wait)."""


def at_once(request: Received, before: int) -> tuple[int, float]:
    return 200, 0.0


@dataclass
class Receiver:
    """An HTTP server on a free loopback port (uvicorn in a thread): each `/hook/<name>` keeps
    what it received and answers as `answers[name]` says (200 at once by default)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def of(self, name: str, invoice_id: str | None = None) -> list[Received]:
        with self.lock:
            found = [r for r in self.received if r.name == name]
        return [r for r in found if invoice_id is None or r.event.get("invoice_id") == invoice_id]

    async def hook(self, request: Request) -> Response:
        name = request.path_params["name"]
        got = Received(name, dict(request.headers), await request.body(), time.monotonic())
        with self.lock:
            before = sum(1 for r in self.received if r.name == name)
            self.received.append(got)
        status, wait_seconds = self.answers.get(name, at_once)(got, before)
        if wait_seconds:
            await asyncio.sleep(wait_seconds)
        return Response(status_code=status)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    app = Starlette(routes=[Route("/hook/{name}", found.hook, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    found.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test receiver did not start"
    yield found
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
async def registered(gateway: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """The webhooks a test registers, deleted after it (a webhook for `*` would otherwise
    receive every later test's events)."""
    made: list[str] = []
    yield made
    for webhook_id in made:
        await gateway.delete(f"/api/v1/webhooks/{webhook_id}")


async def register(
    gateway: httpx.AsyncClient, made: list[str], url: str, events: list[str]
) -> dict[str, Any]:
    r = await gateway.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert r.status_code == 201, r.text
    made.append(r.json()["id"])
    return dict(r.json())


async def deliveries(gateway: httpx.AsyncClient, webhook_id: str) -> list[dict[str, Any]]:
    r = await gateway.get(f"/api/v1/webhooks/{webhook_id}/deliveries", params={"limit": 500})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def of_invoice(log: list[dict[str, Any]], invoice_id: str) -> list[dict[str, Any]]:
    return [d for d in log if d["resource"] == invoice_id]


async def test_real_events_arrive_signed_and_the_secret_is_shown_once(
    gateway: httpx.AsyncClient, receiver: Receiver, registered: list[str], tmp_path: Path
) -> None:
    name = f"signed-{uuid.uuid4().hex[:6]}"
    hook = await register(
        gateway, registered, receiver.url(name), ["invoice.generated", "payment.posted"]
    )
    secret = hook["secret"]
    assert secret.startswith("whsec_") and len(secret) == 49
    assert hook["state"] == "active" and hook["events"] == ["invoice.generated", "payment.posted"]
    listed = await gateway.get("/api/v1/webhooks")
    assert hook["id"] in listed.text and secret not in listed.text
    assert all("secret" not in w for w in listed.json()["items"])

    invoice = await one_time_invoice(gateway, "125.50", "hook ")
    paid = await pay(gateway, invoice, "40.00")
    assert paid.status_code == 201, paid.text
    found = await eventually(lambda: _of(receiver, name, invoice), lambda f: len(f) >= 2)
    await asyncio.sleep(1.5)  # an event it did not ask for (invoice.status_changed) would be here
    found = receiver.of(name, invoice)
    assert sorted(r.event["type"] for r in found) == ["invoice.generated", "payment.posted"]
    for r in found:
        assert verify(secret, r.headers[HEADER.lower()], r.body)
        assert not verify("whsec_" + "x" * 43, r.headers[HEADER.lower()], r.body)
        assert r.headers["billport-event-id"] == r.event["event_id"]
        assert r.headers["content-type"] == "application/json"
    generated = next(r.event for r in found if r.event["type"] == "invoice.generated")
    assert (generated["amount"], generated["balance"], generated["kind"]) == (
        "125.50",
        "125.50",
        "ONE_TIME",
    )
    posted = next(r.event for r in found if r.event["type"] == "payment.posted")
    assert (posted["amount"], posted["method"]) == ("40.00", "WIRE")

    body = tmp_path / "body.json"  # what a receiver would do with the CLI helper
    body.write_bytes(found[0].body)
    signature = found[0].headers[HEADER.lower()]
    args = ["webhooks", "verify", "--secret", secret, "--signature", signature]
    assert billport([*args, "--body-file", str(body)]) == 0
    body.write_bytes(found[0].body.replace(b"125.50", b"1.00"))
    assert billport([*args, "--body-file", str(body)]) == 1

    log = of_invoice(await deliveries(gateway, hook["id"]), invoice)
    assert [(d["event_type"], d["state"], d["attempts"], d["last_status_code"]) for d in log] == [
        ("payment.posted", "DELIVERED", 1, 200),  # newest first
        ("invoice.generated", "DELIVERED", 1, 200),
    ]
    assert [len(d["attempt_log"]) for d in log] == [1, 1]
    assert {d["event_id"] for d in log} == {r.event["event_id"] for r in found}


async def _of(receiver: Receiver, name: str, invoice: str) -> list[Received]:
    return receiver.of(name, invoice)


async def test_a_500_answer_is_retried_until_delivered(
    gateway: httpx.AsyncClient, receiver: Receiver, registered: list[str]
) -> None:
    name = f"flaky-{uuid.uuid4().hex[:6]}"
    receiver.answers[name] = lambda r, before: (500 if before < 2 else 200, 0.0)
    hook = await register(gateway, registered, receiver.url(name), ["invoice.generated"])
    invoice = await one_time_invoice(gateway, "10.00", "flaky ")

    async def log() -> list[dict[str, Any]]:
        return of_invoice(await deliveries(gateway, hook["id"]), invoice)

    (done,) = await eventually(log, lambda d: bool(d) and d[0]["state"] == "DELIVERED")
    assert (done["attempts"], done["last_status_code"], done["last_error"]) == (3, 200, None)
    assert [(a["attempt"], a["status_code"]) for a in done["attempt_log"]] == [
        (1, 500),
        (2, 500),
        (3, 200),
    ]
    assert done["attempt_log"][0]["error"] == "answered 500"
    got = receiver.of(name, invoice)
    assert len(got) == 3 and len({r.event["event_id"] for r in got}) == 1
    assert all(verify(hook["secret"], r.headers[HEADER.lower()], r.body) for r in got)
    # backoff 0.2 s then 0.4 s (BILLPORT_NOTIFIER_WEBHOOK_RETRY_BASE_SECONDS=0.2)
    assert got[1].at - got[0].at >= 0.18 and got[2].at - got[1].at >= 0.38


async def test_a_timeout_is_retried(
    gateway: httpx.AsyncClient, receiver: Receiver, registered: list[str]
) -> None:
    name = f"slow-{uuid.uuid4().hex[:6]}"
    receiver.answers[name] = lambda r, before: (200, 3.0 if before == 0 else 0.0)
    hook = await register(gateway, registered, receiver.url(name), ["invoice.generated"])
    invoice = await one_time_invoice(gateway, "10.00", "slow ")

    async def log() -> list[dict[str, Any]]:
        return of_invoice(await deliveries(gateway, hook["id"]), invoice)

    (done,) = await eventually(log, lambda d: bool(d) and d[0]["state"] == "DELIVERED")
    first, second = done["attempt_log"]
    assert (first["status_code"], first["error"]) == (None, "no answer within 1.5 s")
    assert 1400 <= first["duration_ms"] < 3000
    assert (second["status_code"], second["error"]) == (200, None)
    assert len(receiver.of(name, invoice)) == 2


async def test_events_of_one_invoice_arrive_in_order_without_holding_up_others(
    gateway: httpx.AsyncClient, receiver: Receiver, registered: list[str]
) -> None:
    name = f"order-{uuid.uuid4().hex[:6]}"
    released: set[str] = set()
    gate = threading.Event()

    def answer(r: Received, before: int) -> tuple[int, float]:
        if gate.is_set() or r.event.get("invoice_id") in released:
            return 200, 0.0
        return 503, 0.0  # held until the test releases the invoice

    receiver.answers[name] = answer
    hook = await register(gateway, registered, receiver.url(name), ["*"])
    first = await one_time_invoice(gateway, "80.00", "ordered ")
    await eventually(lambda: _of(receiver, name, first), bool)  # invoice.generated, refused
    assert (await gateway.post(f"/api/v1/invoices/{first}/approve")).status_code == 200
    assert (await pay(gateway, first, "80.00")).status_code == 201
    other = await one_time_invoice(gateway, "5.00", "unheld ")
    released.add(other)

    async def other_delivered() -> list[dict[str, Any]]:
        log = of_invoice(await deliveries(gateway, hook["id"]), other)
        return [d for d in log if d["state"] == "DELIVERED"]

    await eventually(other_delivered, bool)  # not held up behind the first invoice
    await asyncio.sleep(1.5)
    # Still retried (20 tries, at most 1 s apart): a delivery failed for good would let the
    # next ones go, as documented, and this check would say nothing about the order.
    held = of_invoice(await deliveries(gateway, hook["id"]), first)
    states = [d["state"] for d in held if d["event_type"] == "invoice.generated"]
    assert len(states) == 1 and states[0] in ("PENDING", "SENDING"), states
    # Nothing overtook it: neither the invoice's later events nor its payment (another topic).
    assert {r.event["type"] for r in receiver.of(name, first)} == {"invoice.generated"}
    gate.set()

    async def delivered() -> list[dict[str, Any]]:
        log = of_invoice(await deliveries(gateway, hook["id"]), first)
        return [d for d in log if d["state"] == "DELIVERED"]

    done = await eventually(delivered, lambda d: len(d) == 4, timeout=30)
    assert {d["event_type"] for d in done} == {
        "invoice.generated",
        "invoice.approved",
        "payment.posted",
        "invoice.status_changed",
    }
    arrivals = receiver.of(name, first)
    kinds = [r.event["type"] for r in arrivals]
    held_back = kinds.index("invoice.approved")
    assert set(kinds[:held_back]) == {"invoice.generated"} and held_back >= 2  # refused, retried
    once = [k for n, k in enumerate(kinds) if k not in kinds[:n]]
    assert once == [  # the order they happened in, across the two topics
        "invoice.generated",
        "invoice.approved",
        "payment.posted",
        "invoice.status_changed",
    ]
    status = next(r.event for r in arrivals if r.event["type"] == "invoice.status_changed")
    assert (status["previous_status"], status["status"], status["balance"]) == (
        "GENERATED",
        "PAYMENT_DONE",
        "0.00",
    )


async def test_an_invoices_payment_waits_for_its_invoice_events_read_late(
    stack: Stack,
    db: asyncpg.Pool,
    gateway: httpx.AsyncClient,
    receiver: Receiver,
    registered: list[str],
) -> None:
    """The notifier reads invoicing.events late (its consumer held on a lock here, as a busy
    machine would slow it): the payment, read first, waits for the invoice.approved that was
    published before it, and the receiver sees the events in the order they happened."""
    name = f"lag-{uuid.uuid4().hex[:6]}"
    hook = await register(gateway, registered, receiver.url(name), ["*"])
    first = await one_time_invoice(gateway, "30.00", "lagging ")
    await eventually(lambda: _of(receiver, name, first), bool)  # invoice.generated
    partition = partition_for(first)
    async with db.acquire() as held:
        lock = held.transaction()
        await lock.start()
        try:
            got = await held.fetchval(
                "SELECT true FROM notifier.webhook_topic_progress"
                " WHERE topic = 'invoicing.events' AND kafka_partition = $1 FOR UPDATE",
                partition,
            )
            assert got, "the webhook consumer notes how far it read invoicing.events"
            assert (await gateway.post(f"/api/v1/invoices/{first}/approve")).status_code == 200

            async def approved() -> list[Any]:  # on the topic before the payment is posted
                found = await read_topic(stack.config.bootstrap, "invoicing.events")
                return [
                    r
                    for r in found
                    if json.loads(r.value).get("invoice_id") == first
                    and json.loads(r.value)["type"] == "invoice.approved"
                ]

            await eventually(approved, bool)
            assert (await pay(gateway, first, "30.00")).status_code == 201

            async def queued() -> list[str]:
                log = of_invoice(await deliveries(gateway, hook["id"]), first)
                return [d["event_type"] for d in log]

            early = await eventually(queued, lambda k: "payment.posted" in k)
            assert "invoice.approved" not in early  # the payment was queued first
            await asyncio.sleep(1.5)
            assert [r.event["type"] for r in receiver.of(name, first)] == ["invoice.generated"]
        finally:
            await lock.rollback()

    async def delivered() -> list[dict[str, Any]]:
        log = of_invoice(await deliveries(gateway, hook["id"]), first)
        return [d for d in log if d["state"] == "DELIVERED"]

    await eventually(delivered, lambda d: len(d) == 4, timeout=30)
    assert [r.event["type"] for r in receiver.of(name, first)] == [
        "invoice.generated",
        "invoice.approved",
        "payment.posted",
        "invoice.status_changed",
    ]


async def test_the_queue_order_of_an_invoice_across_its_two_topics(db: asyncpg.Pool) -> None:
    """The queue alone, in a transaction rolled back (the running deliverer never sees these
    rows): whichever topic's consumer queued first, an invoice's deliveries go in the order
    the events occurred, each once the other topic is read as far as it stood when it was
    read; another invoice is not held up. The log lists them newest event first."""
    inv, pays = "test.invoices", "test.payments"  # not the real topics: their marks stay
    hook, invoice = f"wh_{uuid.uuid4().hex[:12]}", f"INV-{uuid.uuid4().hex}"
    t0 = datetime.now(UTC) - timedelta(minutes=1)

    def event(kind: str, second: int, after: After, about: str = invoice) -> NewDelivery:
        topic = pays if kind.startswith("payment.") else inv
        at = t0 + timedelta(seconds=second)
        return NewDelivery(uuid.uuid4(), kind, about, b"{}", at, topic, after)

    async with db.acquire() as conn:
        rolled_back = conn.transaction()
        await rolled_back.start()
        try:
            await conn.execute("SET LOCAL search_path TO notifier")
            await conn.execute(
                "INSERT INTO webhooks (id, url, events, secret, created_at)"
                " VALUES ($1, 'http://127.0.0.1:9/x', '{*}', 's', now() - interval '1 hour')",
                hook,
            )

            async def queue(delivery: NewDelivery, read_to: int) -> None:
                await webhook_repository.fan_out(conn, [delivery], ["*"])
                await webhook_repository.note_read(conn, delivery.topic, {0: read_to})

            async def lease() -> list[str]:
                due = await webhook_repository.lease_due(conn, 60, 1000)
                ours = [r for r in due if r["webhook_id"] == hook]
                for r in ours:
                    done = Attempt(200, None, 1)
                    await webhook_repository.delivered(conn, hook, r["id"], r["attempts"], done)
                return sorted(r["event_type"] for r in ours)

            # A payment read before the invoice.approved that happened (and was published)
            # before it: the payment's consumer was ahead.
            await queue(event("invoice.generated", 0, After(pays, 0, 0)), 1)
            await queue(event("payment.posted", 2, After(inv, 0, 2)), 1)
            await queue(event("invoice.generated", 1, After(pays, 0, 0), "INV-other"), 1)
            assert await lease() == ["invoice.generated", "invoice.generated"]  # not held up
            assert await lease() == []  # the payment waits until invoicing is read up to 2
            await queue(event("invoice.approved", 1, After(pays, 0, 1)), 2)  # a higher id
            assert await lease() == ["invoice.approved"]
            assert await lease() == ["payment.posted"]
            assert await lease() == []
            # The other way round: a status change caused by a payment not read yet.
            await queue(event("invoice.status_changed", 4, After(pays, 0, 2)), 3)
            assert await lease() == []  # it waits until payments are read up to 2
            await queue(event("payment.posted", 3, After(inv, 0, 3)), 2)
            assert await lease() == ["payment.posted"]
            assert await lease() == ["invoice.status_changed"]
            # The log, two a page: newest event first, whatever order they were queued in
            # (the same second: the later queued first).
            pages, before = [], None
            while True:
                rows, _ = await webhook_repository.deliveries(conn, hook, 2, before)
                pages.append([(r["event_type"], r["occurred_at"] - t0) for r in rows[:2]])
                if len(rows) <= 2:
                    break
                before = rows[1]["id"]
            s = timedelta(seconds=1)
            assert pages == [
                [("invoice.status_changed", 4 * s), ("payment.posted", 3 * s)],
                [("payment.posted", 2 * s), ("invoice.approved", s)],
                [("invoice.generated", s), ("invoice.generated", 0 * s)],
            ]
        finally:
            await rolled_back.rollback()


async def test_a_notifier_killed_mid_batch_loses_no_delivery(
    stack: Stack, gateway: httpx.AsyncClient, receiver: Receiver, registered: list[str]
) -> None:
    name = f"crash-{uuid.uuid4().hex[:6]}"
    receiver.answers[name] = lambda r, before: (200, 1.0)  # each answer takes a second
    hook = await register(gateway, registered, receiver.url(name), ["invoice.generated"])
    invoices = [await one_time_invoice(gateway, f"{n + 1}.00", "crash ") for n in range(3)]

    async def arrived() -> set[str]:
        return {r.event["invoice_id"] for r in receiver.of(name)}

    await eventually(arrived, bool)  # deliveries under way (leased), perhaps others queued
    stack.kill("notifier-0")
    before = await arrived()
    # Three more while it is down: whatever the notifier had gathered into its batch, these
    # events wait unread in Kafka, so the kill is certainly before all had arrived.
    invoices += [await one_time_invoice(gateway, f"{n + 4}.00", "crash ") for n in range(3)]
    await asyncio.to_thread(stack.restart, "notifier-0")

    got = await eventually(arrived, lambda a: a == set(invoices), timeout=60)
    assert got == set(invoices) and before <= set(invoices[:3])

    async def log() -> list[dict[str, Any]]:
        return await deliveries(gateway, hook["id"])

    done = await eventually(log, lambda d: [x["state"] for x in d] == ["DELIVERED"] * 6)
    assert sorted(d["resource"] for d in done) == sorted(invoices)
    ids = {d["event_id"] for d in done}
    assert {r.event["event_id"] for r in receiver.of(name)} == ids  # twice at most, none lost


async def test_a_webhook_failing_for_good_is_disabled_then_enabled(
    gateway: httpx.AsyncClient, receiver: Receiver, registered: list[str]
) -> None:
    name = f"broken-{uuid.uuid4().hex[:6]}"
    receiver.answers[name] = lambda r, before: (500, 0.0)
    hook = await register(gateway, registered, receiver.url(name), ["invoice.generated"])
    for n in range(2):
        await one_time_invoice(gateway, "3.00", f"broken {n} ")

    async def state() -> dict[str, Any]:
        items = (await gateway.get("/api/v1/webhooks", params={"limit": 500})).json()["items"]
        return next(w for w in items if w["id"] == hook["id"])

    disabled = await eventually(state, lambda w: w["state"] == "disabled", timeout=40)
    assert disabled["disabled_reason"] == (
        "2 deliveries in a row failed after every retry; the last: answered 500"
    )
    log = await deliveries(gateway, hook["id"])
    assert [(d["state"], d["attempts"]) for d in log] == [("FAILED", 20)] * 2

    skipped = await one_time_invoice(gateway, "3.00", "while disabled ")
    await asyncio.sleep(1.5)
    assert len(await deliveries(gateway, hook["id"])) == 2
    assert receiver.of(name, skipped) == []

    receiver.answers[name] = lambda r, before: (204, 0.0)
    enabled = await gateway.post(f"/api/v1/webhooks/{hook['id']}/enable")
    assert enabled.status_code == 200, enabled.text
    assert (enabled.json()["state"], enabled.json()["disabled_reason"]) == ("active", None)
    later = await one_time_invoice(gateway, "3.00", "enabled ")

    async def log_of_later() -> list[dict[str, Any]]:
        return of_invoice(await deliveries(gateway, hook["id"]), later)

    (done,) = await eventually(log_of_later, lambda d: bool(d) and d[0]["state"] == "DELIVERED")
    assert done["last_status_code"] == 204


async def test_only_admins_manage_webhooks(
    stack: Stack, gateway: httpx.AsyncClient, registered: list[str]
) -> None:
    org = (await gateway.post("/api/v1/organizations", json={"name": "Hooks Co"})).json()
    hook = await register(gateway, registered, "http://127.0.0.1:9/x", ["payment.posted"])
    for role in ("finance", "org_user", "feed"):
        scope = {"org_id": org["id"]} if role == "org_user" else {}
        made = await gateway.post("/api/v1/tokens", json={"name": role, "role": role, **scope})
        headers = {"Authorization": f"Bearer {made.json()['token']}"}
        async with httpx.AsyncClient(base_url=stack.config.gateway_url, headers=headers) as c:
            answers = [
                await c.post(
                    "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/y", "events": ["*"]}
                ),
                await c.get("/api/v1/webhooks"),
                await c.get(f"/api/v1/webhooks/{hook['id']}/deliveries"),
                await c.post(f"/api/v1/webhooks/{hook['id']}/enable"),
                await c.delete(f"/api/v1/webhooks/{hook['id']}"),
            ]
        assert [a.status_code for a in answers] == [403] * 5, role
        assert answers[0].json()["error"]["code"] == "forbidden"
    listed = (await gateway.get("/api/v1/webhooks")).json()["items"]
    assert [w["id"] for w in listed if w["url"] == "http://127.0.0.1:9/y"] == []
    gone = await gateway.delete(f"/api/v1/webhooks/{hook['id']}")
    assert gone.status_code == 200 and gone.json()["state"] == "deleted"
    assert (await gateway.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 404
    missing = await gateway.get(f"/api/v1/webhooks/{hook['id']}/deliveries")
    assert missing.status_code == 404


async def refused(gateway: httpx.AsyncClient, url: str, events: list[str]) -> dict[str, Any]:
    r = await gateway.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert r.status_code == 422, r.text
    return dict(r.json()["error"])


async def test_bad_urls_and_events_are_refused_with_the_reason(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    ftp = await refused(gateway, "ftp://files.example.com/in", ["*"])
    assert ftp["message"] == "the URL is refused: must start with https://"
    assert ftp["fields"] == {"url": "must start with https://"}
    unknown = await refused(gateway, "http://127.0.0.1:9/x", ["invoice.paid", "payment.posted"])
    assert unknown["message"] == "unknown event type(s): invoice.paid"
    assert "payment.posted" in unknown["fields"]["events"]
    empty = await refused(gateway, "http://127.0.0.1:9/x", [])
    assert "events" in empty["fields"]

    # The same notifier with the production defaults: HTTPS only, public addresses only.
    notifier = stack.procs["notifier-0"]
    local = dict(notifier.env)
    strict = {k: v for k, v in local.items() if "WEBHOOK_ALLOW" not in k}
    notifier.env = strict
    try:
        await asyncio.to_thread(stack.restart, "notifier-0")
        await asyncio.to_thread(stack.wait_healthy, 60)
        plain = await refused(gateway, "http://hooks.example.com/in", ["*"])
        assert plain["fields"] == {
            "url": "must use https:// (plain http:// is not allowed on this deployment)"
        }
        for url, address in [
            ("https://127.0.0.1:8443/in", "127.0.0.1"),
            ("https://10.20.30.40/in", "10.20.30.40"),
            ("https://169.254.169.254/latest", "169.254.169.254"),
            ("https://localhost/in", None),
        ]:
            private = await refused(gateway, url, ["*"])
            assert "resolves to a loopback, private or link-local address" in private["message"]
            if address:
                assert f"({address})" in private["fields"]["url"]
    finally:
        stack.procs["notifier-0"].env = local
        await asyncio.to_thread(stack.restart, "notifier-0")
        await asyncio.to_thread(stack.wait_healthy, 60)
