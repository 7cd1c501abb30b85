"""Pushing usage like a well-behaved feed: a 429 from the gateway's backpressure means wait
(as Retry-After says) and send the same batch again."""

from __future__ import annotations

import asyncio
import time

import httpx


async def push(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> int:
    """POST one batch until it is taken; returns how many times it was refused first."""
    refused = 0
    while True:
        r = await client.post("/api/v1/usage/records", content=body, headers=headers)
        if r.status_code != 429:
            break
        refused += 1
        await asyncio.sleep(float(r.headers.get("Retry-After", "1")) / 4)
    if r.status_code != 202 or r.json()["rejected"]:
        raise RuntimeError(f"push failed: {r.status_code} {r.text[:300]}")
    return refused


async def paced(
    client: httpx.AsyncClient, bodies: list[bytes], headers: dict[str, str], per_second: float
) -> None:
    """Offer `bodies` at `per_second` requests a second on a fixed schedule (an open load: a
    slow answer does not delay the next push), each pushed until taken."""
    started = time.perf_counter()
    sending: list[asyncio.Task[int]] = []
    for i, body in enumerate(bodies):
        delay = started + i / per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sending.append(asyncio.create_task(push(client, body, headers)))
    await asyncio.gather(*sending)
