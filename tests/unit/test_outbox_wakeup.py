"""The outbox relay never sleeps on rows committed while it was publishing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shared.db.outbox import OutboxRelay


async def test_a_notify_during_a_round_starts_the_next_at_once() -> None:
    relay = OutboxRelay(pool=None, producer=None, schema="usage")  # type: ignore[arg-type]
    rounds: list[float] = []

    async def publish_once(*_: Any) -> int:
        rounds.append(time.perf_counter())
        if len(rounds) == 1:
            relay._on_notify()  # a transaction with events commits while this round runs
        return 1

    relay.publish_once = publish_once  # type: ignore[method-assign]
    task = asyncio.create_task(relay._run())
    await asyncio.sleep(0.3)
    task.cancel()
    assert len(rounds) >= 2
    assert rounds[1] - rounds[0] < 0.1  # not the 1 s poll
