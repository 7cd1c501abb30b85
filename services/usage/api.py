"""Internal HTTP API of the usage service (the gateway is its only caller)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query

from services.usage import repository
from shared.errors import ValidationFailed
from shared.money import format_gb
from shared.service import Runtime

FIGURES = ("priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")
MAX_RANGE_DAYS = 3660


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")

    @api.get("/service-lines/{service_line_number}/usage")
    async def usage(
        service_line_number: str,
        start: date = Query(alias="from"),
        end: date = Query(alias="to"),
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

    return api
