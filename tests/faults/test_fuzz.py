"""Bad input at scale: thousands of generated malformed requests through the gateway and
malformed messages on every consumed topic. No request gets a 5xx and no service falls over;
every message is dead-lettered once, with its reason."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.stack import Stack
from shared.events.topics import ALL_TOPICS
from tests.faults.conftest import TOKEN
from tests.integration.helpers import eventually, read_topic
from tests.integration.test_schemathesis import fuzz

pytestmark = pytest.mark.faults
PER_TOPIC = 700  # 4,200 messages on the six topics
REQUESTS_EACH = 120  # generated requests per operation and mode: about 12,000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def malformed(types: list[str]) -> st.SearchStrategy[bytes]:
    """Bytes that are not JSON, JSON that is no event, and events missing a required field."""
    not_json = st.binary(min_size=1, max_size=200).filter(lambda b: not _is_json(b))
    other_json = json_values.map(lambda v: json.dumps(v).encode())
    lacking = st.builds(
        lambda t, extra: json.dumps({"type": t, "event_id": "not-a-uuid", **extra}).encode(),
        st.sampled_from(types),
        st.dictionaries(
            st.sampled_from(["amount", "invoice_id", "records", "days"]), json_values, max_size=2
        ),
    )
    return st.one_of(not_json, other_json, lacking)


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True


def generate(types: list[str], count: int) -> list[bytes]:
    found: list[bytes] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(malformed(types))
    def collect(message: bytes) -> None:
        found.append(message)

    collect()
    return found[:count]


async def test_malformed_messages_are_dead_lettered_once_with_their_reason(
    fault_stack: Stack, client: httpx.AsyncClient
) -> None:
    bootstrap = fault_stack.config.bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    sent: dict[str, set[str]] = {}
    try:
        for topic in ALL_TOPICS:
            types = [e.model_fields["type"].default for e in topic.events]
            messages = generate(types, PER_TOPIC)
            sent[topic.name] = {f"fuzz-{topic.name}-{i}" for i in range(len(messages))}
            for i, message in enumerate(messages):
                await producer.send(topic.name, message, key=f"fuzz-{topic.name}-{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    assert sum(len(k) for k in sent.values()) >= 4000

    for topic in ALL_TOPICS:

        async def letters(name: str = topic.name) -> list[dict[str, Any]]:
            records = await read_topic(bootstrap, f"{name}.dlq", timeout=15)
            found = [json.loads(r.value) for r in records]
            return [x for x in found if (x.get("key") or "").startswith(f"fuzz-{name}-")]

        found = await eventually(
            letters, lambda d, n=topic.name: len({x["key"] for x in d}) >= len(sent[n]), 300
        )
        # Once per consumer group: a topic read by two services (or two groups of one, as the
        # notifier's alert e-mails and webhooks) is dead-lettered by each.
        keys = [x["key"] for x in found]
        per_group = [(x["key"], x["consumer_group"]) for x in found]
        assert set(keys) == sent[topic.name], topic.name
        assert len(per_group) == len(set(per_group)), topic.name
        assert all(x["reason"] for x in found)
        # our reasons, never a database's or the interpreter's (a NUL in a field name once
        # made PostgreSQL refuse the failure row: CharacterNotInRepertoireError)
        assert {x["error_type"] for x in found} <= {"ValidationFailed", "UsageNotApplied"}, (
            topic.name
        )
    health = await asyncio.to_thread(fault_stack.wait_healthy, 30)
    assert health["state"] == "up"
    # Garbage on usage.recorded is also an alarm in the usage check, message by message, until
    # an operator has looked at each (the other fault tests need a consistent check).
    check = (await client.get("/api/v1/usage/check", params={"from": "1900-01"})).json()
    failed = [f["service_line_number"] for f in check["apply_failures"]]
    assert not check["consistent"] and sorted(failed) == sorted(sent["usage.recorded"])
    await dismiss_fuzz_failures(client)
    check = (await client.get("/api/v1/usage/check", params={"from": "1900-01"})).json()
    assert check["consistent"], (check["differences"][:5], check["apply_failures"][:5])


async def dismiss_fuzz_failures(client: httpx.AsyncClient) -> None:
    """An operator looks at each failure the fuzzed messages left and, finding no usage in it,
    dismisses it (real usage failures are repaired by a resync)."""
    check = (await client.get("/api/v1/usage/check", params={"from": "1900-01"})).json()
    for failure in check["apply_failures"]:
        assert failure["service_line_number"].startswith("fuzz-"), failure
        r = await client.post(
            f"/api/v1/usage/failures/{failure['id']}/dismiss",
            json={"reason": "fuzz test message, not usage"},
        )
        assert r.status_code == 200, r.text


async def test_thousands_of_generated_requests_get_no_5xx(fault_stack: Stack) -> None:
    calls, failures = await asyncio.to_thread(
        fuzz, fault_stack.config.gateway_url, TOKEN, REQUESTS_EACH
    )
    assert calls >= 5800, calls  # with the 4,200 messages: more than 10,000 malformed inputs
    assert failures == [], "\n".join(failures[:20])
