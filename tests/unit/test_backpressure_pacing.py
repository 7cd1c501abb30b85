"""The gateway's lag readings: at the short interval while pushes arrive, seldom when none do,
and at once when a push ends a quiet spell (services/gateway/backpressure.py)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.gateway import backpressure
from services.gateway.backpressure import LagMonitor, Watched


async def test_readings_follow_the_pushes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backpressure, "IDLE_INTERVAL_SECONDS", 0.5)
    monkeypatch.setattr(backpressure, "BUSY_SECONDS", 0.3)
    watched = Watched("billport-usage.usage.raw", "usage.raw", 80)
    monitor = LagMonitor("127.0.0.1:1", [watched], interval_seconds=0.01)
    readings: list[float] = []

    async def measure(_: Watched) -> int:
        readings.append(asyncio.get_running_loop().time())
        return 120  # over the limit

    monkeypatch.setattr(monitor, "_measure", measure)
    task = asyncio.create_task(monitor._run())
    try:
        await asyncio.sleep(0.2)
        assert len(readings) == 1  # quiet: one reading, the next a while later
        assert monitor.over() == watched
        monitor.pushed()  # wakes the watch at once, then every 0.01 s
        await asyncio.sleep(0.02)
        assert len(readings) >= 2
        await asyncio.sleep(0.15)
        busy = len(readings)
        assert busy >= 6
        await asyncio.sleep(0.4)  # the pushes stopped 0.3 s ago: back to the long interval
        quiet = len(readings)
        await asyncio.sleep(0.3)
        assert len(readings) - quiet <= 1
        assert quiet - busy < 40
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await monitor._offsets.stop()
        await monitor._admin.close()
