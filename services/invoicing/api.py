"""Internal HTTP API of the invoicing service (the gateway is its only caller)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.invoicing import repository
from services.invoicing.domain import period_bounds
from shared.errors import ValidationFailed
from shared.money import format_gb
from shared.service import Runtime


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.get("/service-lines/{service_line_number}/usage-summary")
    async def usage_summary(service_line_number: str, period: str) -> dict[str, Any]:
        try:
            start, end = period_bounds(period)
        except ValueError as exc:
            raise ValidationFailed("bad period", fields={"period": str(exc)}) from None
        async with runtime.pool.acquire() as conn:
            row = await repository.month_usage(conn, service_line_number, start, end)
        return {
            "service_line_number": service_line_number,
            "period": period,
            "days_with_usage": row["days"],
            **{
                f: format_gb(row[f])
                for f in ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")
            },
        }

    return api
