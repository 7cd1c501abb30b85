"""The outbox relay never sleeps on rows committed while it was publishing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

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
        self.taken_back = False
        self.channels: list[str] = []

    def is_closed(self) -> bool:
        if self.taken_back:  # what asyncpg's pool proxy does once it took a closed one back
            raise asyncpg.InterfaceError("connection has been released back to the pool")
        return self.closed

    async def add_listener(self, channel: str, _: Any) -> None:
        self.channels.append(channel)


class _Pool:
    def __init__(self) -> None:
        self.handed: list[_Connection] = []
        self.returned: list[_Connection] = []
        self.down = False

    async def acquire(self) -> _Connection:
        if self.down:
            raise ConnectionRefusedError("PostgreSQL away")
        self.handed.append(_Connection())
        return self.handed[-1]

    async def release(self, conn: _Connection) -> None:
        self.returned.append(conn)


def _relay(pool: _Pool) -> OutboxRelay:
    return OutboxRelay(pool=pool, producer=None, schema="payments")  # type: ignore[arg-type]


async def test_a_closed_listening_connection_is_replaced_before_the_next_round() -> None:
    pool = _Pool()
    relay = _relay(pool)
    await relay._keep_listening()  # not started: nothing to replace
    assert pool.handed == []
    relay._listener = first = await pool.acquire()  # type: ignore[assignment]
    await relay._keep_listening()  # open: kept
    assert relay._listener is first and len(pool.handed) == 1
    first.closed = True  # PostgreSQL restarted
    await relay._keep_listening()
    fresh = relay._listener
    assert fresh is pool.handed[1] and fresh.channels == ["payments_outbox"]  # type: ignore[union-attr]
    assert pool.returned == [first]


async def test_a_connection_the_pool_took_back_is_replaced_too() -> None:
    pool = _Pool()
    relay = _relay(pool)
    relay._listener = first = await pool.acquire()  # type: ignore[assignment]
    first.taken_back = True
    await relay._keep_listening()
    assert relay._listener is pool.handed[1]


async def test_rounds_go_on_while_the_relay_cannot_listen_again() -> None:
    """PostgreSQL still away for the listener: the relay keeps publishing on its poll (here a
    round finds a row each time, so it goes straight on) and listens once it can."""
    pool = _Pool()
    relay = _relay(pool)
    relay._listener = first = await pool.acquire()  # type: ignore[assignment]
    first.closed, pool.down = True, True
    rounds = 0

    async def publish_once(*_: Any) -> int:
        nonlocal rounds
        rounds += 1
        await asyncio.sleep(0)  # a real round waits on PostgreSQL and Kafka
        if rounds == 3:
            pool.down = False
        return relay._batch  # a full batch: the next round starts at once

    relay.publish_once = publish_once  # type: ignore[method-assign]
    task = asyncio.create_task(relay._run())
    await asyncio.sleep(0.05)
    task.cancel()
    assert rounds > 3
    assert relay._listener is pool.handed[-1] and relay._listener is not first
