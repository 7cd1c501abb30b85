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


class _Connection:
    def __init__(self) -> None:
        self.closed = False
        self.channels: list[str] = []

    def is_closed(self) -> bool:
        return self.closed

    async def add_listener(self, channel: str, _: Any) -> None:
        self.channels.append(channel)


class _Pool:
    def __init__(self) -> None:
        self.handed: list[_Connection] = []
        self.returned: list[_Connection] = []

    async def acquire(self) -> _Connection:
        self.handed.append(_Connection())
        return self.handed[-1]

    async def release(self, conn: _Connection) -> None:
        self.returned.append(conn)


async def test_a_closed_listening_connection_is_replaced_before_the_next_round() -> None:
    pool = _Pool()
    relay = OutboxRelay(pool=pool, producer=None, schema="payments")  # type: ignore[arg-type]
    await relay._listen_again_if_lost()  # not started: nothing to replace
    assert pool.handed == []
    relay._listener = first = await pool.acquire()  # type: ignore[assignment]
    await relay._listen_again_if_lost()  # open: kept
    assert relay._listener is first and len(pool.handed) == 1
    first.closed = True  # PostgreSQL restarted
    await relay._listen_again_if_lost()
    fresh = relay._listener
    assert fresh is pool.handed[1] and fresh.channels == ["payments_outbox"]  # type: ignore[union-attr]
    assert pool.returned == [first]
