"""The gateway's own unauthenticated route beside `/healthz`, `/readyz` and `/metrics` (those
are every process's, from `shared.service`): the AsyncAPI document of the topics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shared.events.asyncapi import document

router = APIRouter(tags=["operations"])
_ASYNCAPI: dict[str, Any] = {}


@router.get(
    "/asyncapi.json",
    summary="AsyncAPI 3.0 of every Kafka topic: channels, keys, event payload schemas",
)
async def asyncapi() -> dict[str, Any]:
    if not _ASYNCAPI:
        _ASYNCAPI.update(document())
    return _ASYNCAPI
