"""The consumer contract of shared.kafka: retry transient failures and leave the message
unacknowledged; dead-letter permanent ones with the reason; never drop a good neighbour."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, KafkaRouter, TestKafkaBroker

from services.invoicing import handlers as invoicing_handlers
from shared.consumer import consume
from shared.errors import ValidationFailed
from shared.events.topics import USAGE_RAW
from shared.events.usage import UsageSnapshotsReceived
from shared.kafka import guarded


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[Any, str, str, int]] = []

    async def send(self, record: Any, reason: str, error_type: str, attempts: int) -> None:
        self.sent.append((record.value, reason, error_type, attempts))


def rec(value: bytes, offset: int = 0) -> Any:
    return SimpleNamespace(topic="usage.raw", partition=0, offset=offset, key=b"k", value=value)


async def test_poison_record_is_dead_lettered_and_neighbours_applied() -> None:
    applied: list[bytes] = []

    async def process(records: list[Any]) -> None:
        if any(r.value == b"bad" for r in records):
            raise ValidationFailed("bad record", fields={"priority_gb": "must be a number"})
        applied.extend(r.value for r in records)

    dlq = FakeDeadLetters()
    await guarded([rec(b"a", 0), rec(b"bad", 1), rec(b"c", 2)], process, dlq, max_attempts=3)
    assert applied == [b"a", b"c"]
    assert dlq.sent == [
        (b"bad", "bad record (priority_gb: must be a number)", "ValidationFailed", 1)
    ]


async def test_unexpected_error_is_retried_then_dead_lettered() -> None:
    calls = 0

    async def process(records: list[Any]) -> None:
        nonlocal calls
        calls += 1
        raise KeyError("boom")

    dlq = FakeDeadLetters()
    await guarded([rec(b"x")], process, dlq, max_attempts=4)
    assert calls == 4
    assert dlq.sent[0][2:] == ("KeyError", 4)
    assert "boom" in dlq.sent[0][1]


async def test_transient_failure_is_retried_then_left_unacknowledged() -> None:
    calls = 0

    async def process(records: list[Any]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("database away")

    dlq = FakeDeadLetters()
    with pytest.raises(ConnectionRefusedError):
        await guarded([rec(b"x")], process, dlq, max_attempts=3, transient_retries=2)
    assert calls == 3 and dlq.sent == []


async def test_transient_failure_that_heals_is_applied() -> None:
    applied: list[bytes] = []

    async def process(records: list[Any]) -> None:
        if not applied and len(applied) == 0 and not hasattr(process, "failed"):
            process.failed = True  # type: ignore[attr-defined]
            raise TimeoutError("slow database")
        applied.extend(r.value for r in records)

    await guarded([rec(b"x")], process, FakeDeadLetters(), max_attempts=3)
    assert applied == [b"x"]


async def test_subscriber_wiring_with_the_in_memory_broker() -> None:
    dlq = FakeDeadLetters()
    parsed: list[UsageSnapshotsReceived] = []

    async def process(records: list[Any]) -> None:
        parsed.extend(USAGE_RAW.parse(r.value) for r in records)

    router = KafkaRouter()
    consume(router, USAGE_RAW, "billport-test", process, lambda: dlq, max_attempts=2)
    broker = KafkaBroker()
    broker.include_router(router)
    good = UsageSnapshotsReceived(
        service_line_number="AST-1-2-3",
        snapshots=[{"date": "2026-11-01", "priority_gb": "2", "observed_at": "2026-11-02T00:00Z"}],
    )
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(good.to_json(), "usage.raw", key=b"AST-1-2-3")
        await test_broker.publish(b"{oops", "usage.raw", key=b"AST-1-2-3")
    assert parsed == [good]
    assert len(dlq.sent) == 1 and dlq.sent[0][1].startswith("not JSON")


async def test_a_batch_reaches_its_handler_without_a_thread_hand_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing on the way from the broker to `process` runs on the thread pool: a plain
    function there (a decoder, a `KafkaMessage` context parameter) costs a thread hand-off per
    batch, on every consumer of every service."""
    import anyio.to_thread

    handed_off: list[Any] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        handed_off.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    seen: list[bytes] = []

    async def process(records: list[Any]) -> None:
        seen.extend(r.value for r in records)

    router = KafkaRouter()
    consume(router, USAGE_RAW, "billport-test", process, FakeDeadLetters, max_attempts=2)
    broker = KafkaBroker()
    broker.include_router(router)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"one", "usage.raw", key=b"k")
        await test_broker.publish(b"two", "usage.raw", key=b"k")
    assert seen == [b"one", b"two"]
    assert handed_off == []


def test_only_a_gathering_consumer_asks_the_broker_to_hold_its_fetch() -> None:
    router = KafkaRouter()

    async def process(records: list[Any]) -> None:
        return None

    consume(router, USAGE_RAW, "g", process, FakeDeadLetters, 2, gather_ms=200)
    consume(router, USAGE_RAW, "h", process, FakeDeadLetters, 2)
    consume(router, USAGE_RAW, "s", process, FakeDeadLetters, 2, prompt_wait_ms=100)
    # FastStream keeps the options it hands aiokafka's consumer here (0.7).
    asked = {s.group_id: s._connection_args for s in router.subscribers}  # type: ignore[attr-defined]
    gathering, prompt = asked["g.usage.raw"], asked["h.usage.raw"]
    assert (gathering["fetch_max_wait_ms"], gathering["fetch_min_bytes"]) == (200, 1024 * 1024)
    assert prompt["fetch_min_bytes"] == 1  # answered as soon as one record is there
    assert prompt["fetch_max_wait_ms"] == 500  # a partition left out of a fetch waits for it
    shorter = asked["s.usage.raw"]
    assert (shorter["fetch_max_wait_ms"], shorter["fetch_min_bytes"]) == (100, 1)


def test_invoicing_waits_least_for_payments() -> None:
    """The settle consumer of payments (what a payer waits on) asks for a short wait; the
    others keep the default."""
    runtime = SimpleNamespace(
        settings=SimpleNamespace(group_id="billport-invoicing", consumer_max_attempts=3),
        dead_letters=FakeDeadLetters,
    )
    kafka = invoicing_handlers.router(runtime)  # type: ignore[arg-type]
    asked = {s.group_id: s._connection_args for s in kafka.subscribers}  # type: ignore[attr-defined]
    waits = {group.split(".", 1)[1]: args["fetch_max_wait_ms"] for group, args in asked.items()}
    assert waits == {
        "usage.recorded": 500,
        "payments.events": invoicing_handlers.SETTLE_WAIT_MS,
        "notifier.events": 500,
    }
    assert invoicing_handlers.SETTLE_WAIT_MS == 100


class FakeConsumer:
    """aiokafka's consumer as a subscriber's read sees it: `getmany` answers what was fetched."""

    def __init__(self, fetched: dict[str, list[Any]]) -> None:
        self.fetched = fetched
        self.asked: list[dict[str, int]] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[str, list[Any]]:
        self.asked.append({"timeout_ms": timeout_ms, "max_records": max_records})
        return self.fetched


async def test_a_read_that_finds_nothing_does_not_nap(monkeypatch: pytest.MonkeyPatch) -> None:
    from faststream.kafka.subscriber.usecase import BatchSubscriber

    # The method replaced is FastStream's, with the nap this avoids (0.7): if it moves, this
    # fails instead of the replacement silently not applying.
    assert "get_msg" in BatchSubscriber.__dict__
    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    monkeypatch.setattr("anyio.sleep", nap)
    monkeypatch.setattr("asyncio.sleep", nap)
    router = KafkaRouter()

    async def process(records: list[Any]) -> None:
        return None

    consume(router, USAGE_RAW, "g", process, FakeDeadLetters, 2, max_records=7)
    (subscriber,) = router.subscribers
    assert isinstance(subscriber, BatchSubscriber)
    idle = FakeConsumer({})
    assert await subscriber.get_msg(idle) == ()
    assert naps == [] and idle.asked == [{"timeout_ms": 1000, "max_records": 7}]

    a, b, c = rec(b"a", 0), rec(b"b", 1), rec(b"c", 0)
    busy = FakeConsumer({"usage.raw-0": [a, b], "usage.raw-1": [c]})
    assert await subscriber.get_msg(busy) == (a, b, c)

    broker = KafkaBroker()
    broker.include_router(router)  # the broker runs this very subscriber, the read with it
    assert [s.get_msg for s in broker.subscribers] == [subscriber.get_msg]
