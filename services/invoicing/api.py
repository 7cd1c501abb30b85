"""Internal HTTP API of the invoicing service (the gateway is its only caller)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.invoicing import payments_check, repository
from services.invoicing.usage_check import check
from shared.errors import NotFound
from shared.money import format_gb
from shared.service import InternalCaller, Runtime


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500)


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.get("/usage/unassigned")
    async def unassigned(limit: int = Query(default=500, ge=1, le=5000)) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            rows = await repository.unassigned_usage(conn, limit)
        return {
            "items": [
                {
                    "service_line_number": r["service_line_number"],
                    "first_day": r["first_day"].isoformat(),
                    "last_day": r["last_day"].isoformat(),
                    "days_with_usage": r["days"],
                    "priority_gb": format_gb(r["priority_gb"]),
                }
                for r in rows
            ],
            "next_cursor": None,
        }

    @api.post("/usage/failures/{failure_id}/dismiss")
    async def dismiss(failure_id: int, body: DismissIn, caller: InternalCaller) -> dict[str, Any]:
        caller.require("admin")
        async with runtime.pool.acquire() as conn:
            if not await repository.dismiss_failure(conn, failure_id, caller.actor, body.reason):
                raise NotFound(f"no open usage failure {failure_id}")
        return {"id": failure_id, "dismissed": True, "reason": body.reason}

    @api.get("/usage/check")
    async def usage_check(from_month: str = Query(alias="from")) -> dict[str, Any]:
        return await check(runtime, from_month)

    @api.get("/payments-check")
    async def payments_copy_check() -> dict[str, Any]:
        return await payments_check.check(runtime)

    @api.post("/payments-check/repair")
    async def payments_copy_repair(caller: InternalCaller) -> dict[str, Any]:
        caller.require("admin")
        return await payments_check.check(runtime, repair=True)

    return api
