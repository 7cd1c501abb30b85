"""Pushing usage like a well-behaved feed: a 429 from the gateway's backpressure means wait
(as Retry-After says) and send the same batch again."""

from __future__ import annotations

import asyncio

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
