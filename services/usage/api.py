"""Internal HTTP API of the usage service (the gateway is its only caller)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.usage import repository, settling
from shared.api.types import Day
from shared.errors import ValidationFailed
from shared.money import format_gb
from shared.service import Runtime

FIGURES = ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")
MAX_RANGE_DAYS = 3660
MONTH_PATTERN = r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$"


class SettleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)


class ResyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_month: str = Field(alias="from", pattern=MONTH_PATTERN)


def first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.get("/service-lines/{service_line_number}/usage")
    async def usage(
        service_line_number: str,
        start: Day = Query(alias="from"),
        end: Day = Query(alias="to"),
    ) -> dict[str, Any]:
        if end < start:
            raise ValidationFailed(
                "`to` is before `from`", fields={"to": "must not be before from"}
            )
        if (end - start).days > MAX_RANGE_DAYS:
            raise ValidationFailed("range too long", fields={"to": "at most 10 years after from"})
        async with runtime.pool.acquire() as conn:
            rows = await repository.daily_rows(conn, service_line_number, start, end)
        totals = {f: sum((r[f] for r in rows), Decimal(0)) for f in FIGURES}
        return {
            "service_line_number": service_line_number,
            "days": [
                {
                    "date": r["day"].isoformat(),
                    **{f: format_gb(r[f]) for f in FIGURES},
                    "observed_at": r["observed_at"].isoformat().replace("+00:00", "Z"),
                }
                for r in rows
            ],
            "totals": {f: format_gb(v) for f, v in totals.items()},
        }

    @api.post("/usage/settle")
    async def settle(body: SettleIn) -> dict[str, Any]:
        """Returns once every usage.raw record accepted before the call is stored and
        announced; 409 with what is pending if that takes longer than the timeout."""
        return await settling.settle(runtime, body.timeout_seconds)

    @api.post("/usage/resync", status_code=202)
    async def resync(body: ResyncIn) -> dict[str, Any]:
        """Start announcing the stored days again from a month on (one job at a time)."""
        return await settling.start_resync(runtime, first_day(body.from_month))

    @api.get("/usage/resync/{job_id}")
    async def resync_job(job_id: int) -> dict[str, Any]:
        return await settling.get_job(runtime, job_id)

    @api.get("/usage/months")
    async def months(
        from_month: str = Query(alias="from", pattern=MONTH_PATTERN),
    ) -> dict[str, Any]:
        """Each service line's sums per month from a month on (the source of the check)."""
        async with runtime.pool.acquire() as conn:
            rows = await repository.month_figures(conn, first_day(from_month))
        return {"from": from_month, "items": [month_item(r) for r in rows]}

    return api


def month_item(r: Any) -> dict[str, Any]:
    return {
        "service_line_number": r["service_line_number"],
        "month": r["month"].isoformat()[:7],
        "days": r["days"],
        **{f: format_gb(r[f]) for f in FIGURES},
    }
