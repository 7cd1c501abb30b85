"""Watching usage (issue 16):

- `usage_to_alert_p99_ms`: from a usage push through the gateway that takes a line on a plan
  over its organization's threshold to the `usage.threshold_crossed` event on `usage.alerts`,
  measured while an ingest load (batches of 1,000 records, 4 feeds) runs;
- `pool_usage_p99_ms`: `GET /sub-pools/{id}/usage` for a pool of 500 member lines with a full
  month of daily usage each.

`python -m bench.usage_watch` runs this part alone on a stack of its own (slot
BILLPORT_TEST_SLOT, default 2, folder .local/bench-watch-<slot>);
`python -m bench.usage_watch ingest` runs the bench's usage ingest alone there instead."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.push import paced, post_once, push, session
from bench.report import figure, progress
from shared.events.topics import PARTITIONS, USAGE_ALERTS

POOL_LINES = 500
POOL_PERIOD = "2030-03"
LOAD_START = date(2031, 1, 1)


@dataclass
class WatchFigures:
    to_alert_p99_ms: float
    to_alert_p50_ms: float
    alerts: int
    load_rps: float
    half_p99_ms: float | None
    half_p50_ms: float | None
    half_alerts: int
    half_offered_rps: float | None
    pool_p99_ms: float
    pool_p50_ms: float


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/api/v1/{path}", json=body)
    if r.status_code != 201:
        raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
    return dict(r.json())


def load_bodies(lines: int, days: int, tag: str = "02") -> list[bytes]:
    """Records of lines the catalog does not know (the ingest's usual case), 1,000 a batch."""
    out, chunk = [], []
    for n in range(lines):
        for d in range(days):
            chunk.append(
                {
                    "service_line_number": f"AST-W{n:06d}-10000-{tag}",
                    "date": (LOAD_START + timedelta(d)).isoformat(),
                    "priority_gb": str((n * 7 + d) % 50),
                    "observed_at": "2031-06-01T00:00:00Z",
                }
            )
            if len(chunk) == 1000:
                out.append(json.dumps({"records": chunk}).encode())
                chunk = []
    if chunk:
        out.append(json.dumps({"records": chunk}).encode())
    return out


class AlertWatch:
    """Reads `usage.alerts` from its end and notes when each subject's first event arrived."""

    def __init__(self, bootstrap: str) -> None:
        self.seen: dict[str, float] = {}
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        tps = [TopicPartition(USAGE_ALERTS.name, p) for p in range(PARTITIONS)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now, before any probe is pushed
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    subject = json.loads(r.value)["subject_id"]
                    self.seen.setdefault(subject, now)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()


async def to_alert(
    gateway_url: str,
    token: str,
    bootstrap: str,
    load_lines: int,
    load_days: int,
    probes: int,
    rate: float | None = None,
    tag: str = "02",
) -> tuple[list[float], float]:
    """Probes of push -> alert event while the load runs (4 feeds as fast as they are taken,
    or, with `rate`, a paced load offering `rate` records a second); answers the latencies
    (ms) and the load's records per second."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with (
        httpx.AsyncClient(base_url=gateway_url, timeout=120, headers=headers) as client,
        session(gateway_url) as feed,
    ):
        org = await created(
            client,
            "organizations",
            {"name": f"Bench alerts {uuid.uuid4().hex[:6]}", "usage_alert_thresholds": [100]},
        )
        plan = await created(
            client,
            "plans",
            {
                "name": f"Bench 10 GB {uuid.uuid4().hex[:6]}",
                "monthly_price": "50.00",
                "allowance_gb": "10",
                "overage_price_per_gb": "1.00",
            },
        )
        numbers = [f"AST-ALERT-{uuid.uuid4().hex[:10]}" for _ in range(probes)]
        for number in numbers:
            body = {
                "service_line_number": number,
                "name": number,
                "org_id": org["id"],
                "plan_id": plan["id"],
                "active_from": "2031-01-01",
            }
            await created(client, "service-lines", body)
        watch = AlertWatch(bootstrap)
        await watch.start()
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        load = load_bodies(load_lines, load_days, tag)
        for batch in load:
            queue.put_nowait(batch)
        loading = True
        latencies: list[float] = []

        async def pusher() -> None:
            while not queue.empty():
                await push(feed, queue.get_nowait(), headers)

        async def probe(number: str) -> None:
            record = {
                "service_line_number": number,
                "date": "2031-01-15",
                "priority_gb": "10.5",
                "observed_at": "2031-01-16T00:00:00Z",
            }
            body = json.dumps({"records": [record]}).encode()
            while True:  # timed from the push that is taken, as the ingest's probe
                sent = time.perf_counter()
                status, _, text = await post_once(feed, body, headers)
                if status != 429:
                    break
                await asyncio.sleep(0.05)
            if status != 202:
                raise RuntimeError(f"probe push failed: {status} {text[:200]}")
            deadline = time.perf_counter() + 60
            while number not in watch.seen:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"no alert for {number} within 60 s")
                await asyncio.sleep(0.005)
            latencies.append((watch.seen[number] - sent) * 1000)

        async def prober() -> None:
            """A probe every 250 ms while the load runs, each on a line of its own."""
            await asyncio.sleep(1)  # the load is under way
            started = []
            for number in numbers:
                if not loading:
                    break
                started.append(asyncio.create_task(probe(number)))
                await asyncio.sleep(0.25)
            await asyncio.gather(*started)

        started = time.perf_counter()
        probing = asyncio.create_task(prober())
        if rate:
            await paced(feed, load, headers, rate / 1000)
        else:
            await asyncio.gather(*(pusher() for _ in range(4)))
        elapsed = time.perf_counter() - started
        loading = False
        await probing
        await watch.stop()
    return latencies, load_lines * load_days / elapsed


async def pool_usage(gateway_url: str, token: str, rounds: int) -> list[float]:
    """A pool of 500 lines, each with every day of the month; the endpoint timed `rounds`
    times (after a few warm-up calls)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=gateway_url, timeout=120, headers=headers) as client,
        session(gateway_url) as feed,
    ):
        org = await created(client, "organizations", {"name": f"Bench pool {uuid.uuid4().hex[:6]}"})
        pool = await created(
            client,
            "sub-pools",
            {
                "org_id": org["id"],
                "name": "Fleet",
                "monthly_price": "9000.00",
                "allowance_gb": "100000",
                "overage_price_per_gb": "1.00",
            },
        )
        tag = uuid.uuid4().hex[:6]
        numbers = [f"AST-POOL-{tag}-{n:04d}" for n in range(POOL_LINES)]
        await asyncio.gather(
            *(
                created(
                    client,
                    "service-lines",
                    {
                        "service_line_number": number,
                        "name": f"Vessel {n}",
                        "org_id": org["id"],
                        "sub_pool_id": pool["id"],
                        "active_from": "2030-01-01",
                    },
                )
                for n, number in enumerate(numbers)
            )
        )
        first = date(2030, 2, 1)  # February too: the previous month's mean is read as well
        records = [
            {
                "service_line_number": number,
                "date": (first + timedelta(d)).isoformat(),
                "priority_gb": str(1 + (n + d) % 7),
                "observed_at": "2030-04-02T00:00:00Z",
            }
            for n, number in enumerate(numbers)
            for d in range(28 + 31)
        ]
        for i in range(0, len(records), 1000):
            body = json.dumps({"records": records[i : i + 1000]}).encode()
            await push(feed, body, {**headers, "Content-Type": "application/json"})
        expected = sum(1 + (n + d) % 7 for n in range(POOL_LINES) for d in range(28, 28 + 31))
        url = f"/api/v1/sub-pools/{pool['id']}/usage"
        params = {"period": POOL_PERIOD, "as_of": "2030-03-05"}
        while True:  # until the invoicing copy holds every day
            got = (await client.get(url, params=params)).json()
            if got.get("used_gb") == str(expected):
                break
            await asyncio.sleep(0.5)
        for _ in range(10):
            await client.get(url, params=params)
        timings = []
        for _ in range(rounds):
            sent = time.perf_counter()
            r = await client.get(url, params=params)
            timings.append((time.perf_counter() - sent) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"pool usage: {r.status_code} {r.text[:200]}")
    return timings


async def run(
    gateway_url: str, token: str, bootstrap: str, ingest_rps: float | None = None
) -> WatchFigures:
    """`ingest_rps`: the ingest's measured throughput; the alert latency is then measured
    again under a paced load offering half of it (default: half of this part's own load)."""
    load_lines = int(os.environ.get("BENCH_WATCH_LOAD_LINES", "5000"))
    load_days = int(os.environ.get("BENCH_WATCH_LOAD_DAYS", "100"))
    probes = int(os.environ.get("BENCH_WATCH_PROBES", "400"))
    progress(f"pool usage: a pool of {POOL_LINES} lines")
    pool = await pool_usage(gateway_url, token, int(os.environ.get("BENCH_WATCH_ROUNDS", "1000")))
    progress(f"usage -> alert: probes under a load of {load_lines * load_days} records")
    latencies, rps = await to_alert(gateway_url, token, bootstrap, load_lines, load_days, probes)
    half_rate = (ingest_rps or rps) / 2
    progress(f"usage -> alert at half load: a paced load offering {half_rate:.0f} records/s")
    half, _ = await to_alert(
        gateway_url, token, bootstrap, load_lines, load_days, probes, rate=half_rate, tag="04"
    )
    return WatchFigures(
        p99(latencies),
        statistics.median(latencies) if latencies else float("nan"),
        len(latencies),
        rps,
        p99(half),
        statistics.median(half) if half else float("nan"),
        len(half),
        half_rate,
        p99(pool),
        statistics.median(pool),
    )


def report(found: WatchFigures) -> None:
    figure("usage_to_alert_p99_ms", found.to_alert_p99_ms, "ms")
    figure("usage_to_alert_p50_ms", found.to_alert_p50_ms, "ms")
    progress(f"{found.alerts} alerts timed under a load of {found.load_rps:.0f} records/s")
    if found.half_p99_ms is not None and found.half_p50_ms is not None:
        figure("usage_to_alert_p99_at_half_ms", found.half_p99_ms, "ms")
        figure("usage_to_alert_p50_at_half_ms", found.half_p50_ms, "ms")
        progress(
            f"{found.half_alerts} alerts timed under a paced load offering"
            f" {found.half_offered_rps or 0:.0f} records/s"
        )
    figure("pool_usage_p99_ms", found.pool_p99_ms, "ms")
    figure("pool_usage_p50_ms", found.pool_p50_ms, "ms")


def main() -> None:
    """This part alone, on a fresh stack of its own (`ingest`: the bench's usage ingest)."""
    from bench import usage as usage_bench
    from devstack.stack import ROOT, Stack, StackConfig, wipe

    slot = int(os.environ.get("BILLPORT_TEST_SLOT", "2"))
    home = ROOT / ".local" / f"bench-watch-{slot}"
    token = "bp_bench_admin_4Rt7Mz2Xq9Kd6Wv3Ln8Hp5"
    wipe(home)
    config = StackConfig.isolated(home, slot=slot, admin_token=token)
    stack = Stack(config)
    try:
        progress(f"booting a fresh stack (slot {slot})")
        stack.start_infra()
        stack.start_services()
        if sys.argv[1:] == ["ingest"]:
            lines = int(os.environ.get("BENCH_USAGE_LINES", "3000"))
            days = int(os.environ.get("BENCH_USAGE_DAYS", "100"))
            pids = {name: proc.popen.pid for name, proc in stack.procs.items()}
            pgdata = home / "postgres" / "pgdata" / "postmaster.pid"
            pids["postgres"] = int(pgdata.read_text().split()[0])
            usage_bench.measure(config.gateway_url, token, config.dsn, lines, days, pids)
        else:
            report(asyncio.run(run(config.gateway_url, token, config.bootstrap)))
    finally:
        progress("stopping the bench stack")
        stack.stop()


if __name__ == "__main__":
    main()
