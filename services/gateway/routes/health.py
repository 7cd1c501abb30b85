"""Unauthenticated operations routes at the root: `/healthz`, `/readyz`, `/metrics`."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.events.asyncapi import document

router = APIRouter(tags=["operations"])


async def _postgres(request: Request) -> dict[str, str]:
    try:
        async with request.app.state.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1", timeout=2)
    except Exception:
        return {"state": "down"}
    return {"state": "up"}


async def _kafka(request: Request) -> dict[str, str]:
    return {"state": "up" if await request.app.state.producer.healthy() else "down"}


async def component_states(request: Request) -> dict[str, Any]:
    services = request.app.state.services
    names = services.names()
    results = await asyncio.gather(
        _postgres(request), _kafka(request), *(services.health(n) for n in names)
    )
    components: dict[str, Any] = {"gateway": {"state": "up"}}
    components.update(dict(zip(names, results[2:], strict=True)))
    components["kafka"] = results[1]
    components["postgres"] = results[0]
    return components


@router.get("/healthz", summary="Health of the gateway, every service, Kafka and PostgreSQL")
async def healthz(request: Request) -> JSONResponse:
    components = await component_states(request)
    healthy = all(c["state"] == "up" for c in components.values())
    return JSONResponse(
        {"state": "up" if healthy else "degraded", "components": components},
        status_code=200 if healthy else 503,
    )


@router.get("/readyz", summary="Ready to serve: the same checks as /healthz")
async def readyz(request: Request) -> JSONResponse:
    return await healthz(request)


@router.get("/metrics", summary="Prometheus metrics of the gateway")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


_ASYNCAPI: dict[str, Any] = {}


@router.get(
    "/asyncapi.json",
    summary="AsyncAPI 3.0 of every Kafka topic: channels, keys, event payload schemas",
)
async def asyncapi() -> dict[str, Any]:
    if not _ASYNCAPI:
        _ASYNCAPI.update(document())
    return _ASYNCAPI
