"""Internal API of webhooks (the gateway's `/api/v1/webhooks`, admin only): register (the secret
is answered this once), list (never a secret), delete, enable again, and a webhook's delivery
log. The URL rules are the notifier's own settings, so they are checked here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.notifier import webhook_repository as repository
from services.notifier.webhooks import TargetRules, check_events, check_url, new_id, new_secret
from shared.errors import Conflict, NotFound
from shared.service import InternalCaller, Runtime


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=50)


def _webhook(row: Any) -> dict[str, Any]:
    return {**dict(row), "events": list(row["events"])}


def _deliveries(rows: list[Any], attempts: list[Any]) -> list[dict[str, Any]]:
    history: dict[int, list[dict[str, Any]]] = {}
    for a in attempts:
        entry = {k: a[k] for k in ("attempt", "at", "status_code", "error", "duration_ms")}
        history.setdefault(a["delivery_id"], []).append(entry)
    items = []
    for r in rows:
        item = dict(r)
        item["id"] = str(r["id"])
        item["event_id"] = str(r["event_id"])
        item["attempt_log"] = history.get(r["id"], [])
        items.append(item)
    return items


def router(
    runtime: Runtime, rules: TargetRules, max_count: int, woken: Callable[[], None]
) -> APIRouter:
    api = APIRouter(prefix="/internal/webhooks")

    @api.post("", status_code=201)
    async def create(body: WebhookIn, caller: InternalCaller) -> dict[str, Any]:
        caller.require("admin")
        events = check_events(body.events)
        url = await check_url(body.url, rules)
        secret = new_secret()
        async with runtime.pool.acquire() as conn:
            row = await repository.create(
                conn, new_id(), url, events, secret, caller.actor, max_count
            )
        if row is None:
            raise Conflict(f"at most {max_count} webhooks; delete one first")
        return {**_webhook(row), "secret": secret}

    @api.get("")
    async def listed(
        caller: InternalCaller,
        limit: int = Query(default=50, ge=1, le=500),
        cursor: str | None = Query(default=None, max_length=64),
    ) -> dict[str, Any]:
        caller.require("admin")
        async with runtime.pool.acquire() as conn:
            rows = await repository.page(conn, limit, cursor)
        items = [_webhook(r) for r in rows[:limit]]
        return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}

    @api.delete("/{webhook_id}")
    async def delete(webhook_id: str, caller: InternalCaller) -> dict[str, Any]:
        caller.require("admin")
        async with runtime.pool.acquire() as conn:
            row = await repository.delete(conn, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        return {**_webhook(row), "state": "deleted"}

    @api.post("/{webhook_id}/enable")
    async def enable(webhook_id: str, caller: InternalCaller) -> dict[str, Any]:
        caller.require("admin")
        async with runtime.pool.acquire() as conn:
            row = await repository.enable(conn, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        woken()
        return _webhook(row)

    @api.get("/{webhook_id}/deliveries")
    async def deliveries(
        webhook_id: str,
        caller: InternalCaller,
        limit: int = Query(default=50, ge=1, le=500),
        cursor: str | None = Query(default=None, pattern=r"^\d{1,18}$"),
    ) -> dict[str, Any]:
        caller.require("admin")
        async with runtime.pool.acquire() as conn:
            if not await repository.exists(conn, webhook_id):
                raise NotFound(f"no webhook {webhook_id}")
            rows, attempts = await repository.deliveries(
                conn, webhook_id, limit, int(cursor) if cursor else None
            )
        items = _deliveries(rows[:limit], attempts)
        return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}

    return api
