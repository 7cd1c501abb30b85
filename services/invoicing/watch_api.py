"""Internal HTTP API of watching usage: a line's and a sub-pool's consumption of a period with
the month-end forecast, and the alerts made. An org_user reads its own tree only (the rest are
404s, as if they did not exist)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from services.invoicing import alerts, catalog, consumption, repository
from services.invoicing.timeline import Period
from shared.api.types import Day, Month
from shared.errors import ValidationFailed
from shared.money import format_gb
from shared.service import InternalCaller, Runtime

FIGURES = ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")
AS_OF = Query(
    default=None,
    description="The day the forecast is made on (YYYY-MM-DD, default today, UTC): days up to"
    " two days before it are settled.",
)


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise ValidationFailed("bad period", fields={"period": str(exc)}) from None


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.get("/service-lines/{service_line_number}/usage-summary")
    async def usage_summary(
        service_line_number: str, period: Month, caller: InternalCaller, as_of: Day | None = AS_OF
    ) -> dict[str, Any]:
        month = _period(period)
        async with runtime.pool.acquire() as conn:
            used = await consumption.line(conn, service_line_number, month)
            await consumption.within(
                conn, caller, used.org_id, f"service line {service_line_number}"
            )
            row = await repository.month_usage(conn, service_line_number, month.first_day)
        return {
            "service_line_number": service_line_number,
            "name": used.name if used.org_id else None,
            "days_with_usage": row["days"] if row else 0,
            **{f: format_gb(row[f]) if row else "0" for f in FIGURES},
            **used.as_api(as_of or alerts.today()),
        }

    @api.get("/sub-pools/{pool_id}/usage")
    async def pool_usage(
        pool_id: str, period: Month, caller: InternalCaller, as_of: Day | None = AS_OF
    ) -> dict[str, Any]:
        month, day = _period(period), as_of or alerts.today()
        async with runtime.pool.acquire() as conn:
            used = await consumption.pool(conn, pool_id, month, day)
            await consumption.within(conn, caller, used.org_id, f"sub-pool {pool_id}")
        return used.as_api(day)

    @api.get("/alerts")
    async def list_alerts(
        caller: InternalCaller,
        org_id: str | None = None,
        period: Month | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
        cursor: int | None = Query(default=None, ge=1),
    ) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            orgs: list[str] | None = None
            if org_id:
                orgs = await catalog.org_tree(conn, org_id)
            if caller.org_scope:
                own = await catalog.org_tree(conn, caller.org_scope)
                orgs = own if orgs is None else [o for o in orgs if o in own]
            return await alerts.listed(conn, orgs, period, limit, cursor)

    return api
