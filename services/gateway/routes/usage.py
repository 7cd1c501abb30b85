"""Usage routes: feeds push records or Starlink pages; admins and finance read daily usage;
everyone but feeds reads consumption (a line's or a sub-pool's period against its allowance,
with the forecast) and the usage alerts, an org_user within its own organization tree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import resources
from services.gateway.audit import record
from services.gateway.deps import (
    IDENT,
    Admin,
    Db,
    Feed,
    OrgScope,
    PathId,
    Producer,
    Reader,
    Services,
    Settings,
    Staff,
)
from services.gateway.errors import Busy
from services.gateway.ingest import (
    IngestResult,
    Records,
    Rejection,
    group_by_partition,
    json_value,
    parse_records_body,
    publish,
)
from services.gateway.routes import API_PREFIX
from services.gateway.starlink import snapshots_of_page
from shared.api.types import Day, Month
from shared.events.usage import LineSnapshot, LineSnapshotDict
from shared.kafka import KafkaProducer
from shared.metrics import REJECTED

router = APIRouter(prefix=API_PREFIX, tags=["usage"])

PathIdQuery = Annotated[
    str | None, Query(pattern=IDENT, description="an organization id (its tree)")
]

RECORDS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["records"],
                    "properties": {
                        "records": {
                            "type": "array",
                            "maxItems": 10_000,
                            "items": LineSnapshot.model_json_schema(
                                ref_template="#/components/schemas/{model}"
                            ),
                        }
                    },
                }
            }
        },
    }
}

STARLINK_BODY = {
    "requestBody": {
        "required": True,
        "description": "A Starlink Enterprise API v2 `POST /public/v2/data-usage/query` response:"
        " the whole wrapper `{errors, warnings, information, isValid, content}` or `content`."
        " Every `billingCycles[].dailyDataUsage[]` entry becomes one daily snapshot observed at"
        " the result's `lastUpdated`.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.post(
    "/usage/records",
    status_code=202,
    response_model=IngestResult,
    openapi_extra=RECORDS_BODY,
    summary="Push normalized daily usage snapshots (newest observed_at wins)",
)
async def push_records(
    request: Request, user: Feed, producer: Producer, settings: Settings
) -> JSONResponse:
    good, bad = parse_records_body(await request.body(), settings.max_records_per_request)
    return await accept(request, producer, good, bad, f"records:{user.token_id}")


@router.post(
    "/usage/starlink",
    status_code=202,
    response_model=IngestResult,
    openapi_extra=STARLINK_BODY,
    summary="Push a Starlink Enterprise API v2 data-usage query response (wrapper or content)",
)
async def push_starlink_page(request: Request, user: Feed, producer: Producer) -> JSONResponse:
    page = json_value(await request.body())
    good, rejected = snapshots_of_page(page, datetime.now(UTC))
    bad = [
        Rejection(index=r.index, service_line_number=r.service_line_number, reason=r.reason)
        for r in rejected
    ]
    records = [cast(LineSnapshotDict, s.model_dump()) for s in good]
    return await accept(request, producer, records, bad, f"starlink:{user.token_id}")


async def accept(
    request: Request,
    producer: KafkaProducer,
    good: Records,
    bad: list[Rejection],
    source: str,
) -> JSONResponse:
    """Publish the good records (acknowledged by Kafka), then answer 202 with both counts."""
    gateway = resources.of(request)
    gateway.usage_lag.pushed()
    if gateway.usage_lag.over() is not None:
        raise Busy("usage ingestion is catching up; retry in a second (nothing was taken)")
    if bad:
        REJECTED.labels(request.url.path).inc(len(bad))
    await publish(producer, group_by_partition(good, source, request.state.correlation_id))
    runtime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:  # one audit row per push, not per record
        await record(
            conn,
            request.state.principal,
            request,
            "usage.push",
            request.url.path,
            {"accepted": len(good), "rejected": len(bad)},
        )
    result = IngestResult(accepted=len(good), rejected=bad)
    return JSONResponse(result.model_dump(mode="json"), status_code=202)


@router.get(
    "/service-lines/{service_line_number}/usage",
    summary="Daily usage of a service line, dates inclusive, with totals",
)
async def line_usage(
    service_line_number: PathId,
    user: Staff,
    services: Services,
    start: Day = Query(alias="from"),
    end: Day = Query(alias="to"),
) -> Any:
    return await services.get(
        "usage",
        f"/internal/service-lines/{service_line_number}/usage",
        {"from": start.isoformat(), "to": end.isoformat()},
    )


AS_OF = Query(
    default=None,
    description="The day the forecast is made on (YYYY-MM-DD, default today, UTC). Starlink"
    " revises a day for up to 24 hours after it ends: days up to two days before `as_of` are"
    " settled and set the daily rate (the mean of the last 7 settled days, topped up with the"
    " previous month's daily mean when fewer have passed); forecast_gb = settled GB + rate x"
    " the days left, never below used_gb; a period already over forecasts what it used.",
)
WATCHING = (
    " `allowance_gb`, `used_gb` (priority GB, opt-in included), `remaining_gb`,"
    " `percent_used` (2 decimals, null without an allowance), `forecast_gb` (month end),"
    " `days` [{date, priority_gb}]."
)


def _as_of(as_of: date | None) -> dict[str, str]:
    return {"as_of": as_of.isoformat()} if as_of else {}


@router.get(
    "/service-lines/{service_line_number}/usage-summary",
    summary="A period's consumption of a service line: allowance, used, forecast, daily figures",
    description="The line's allowance is its plans' allowances prorated by the days on each"
    " (the price version in force for the period); `used_gb` counts its priority GB on those"
    " days (days in a sub-pool count in the pool). Also the month's totals of every figure"
    " (`priority_gb`, `opt_in_priority_gb`, `standard_gb`, `non_billable_gb`,"
    " `days_with_usage`), as billing sees them." + WATCHING,
)
async def line_usage_summary(
    service_line_number: PathId,
    period: Month,
    user: Reader,
    services: Services,
    as_of: Day | None = AS_OF,
) -> Any:
    return await services.get(
        "invoicing",
        f"/internal/service-lines/{service_line_number}/usage-summary",
        {"period": period, **_as_of(as_of)},
    )


@router.get(
    "/sub-pools/{pool_id}/usage",
    summary="A period's consumption of a sub-pool: allowance, used, forecast, days, members",
    description="The pool's allowance (the version in force for the period); `used_gb` counts"
    " its members' priority GB on the days each was a member; `members`"
    " [{service_line_number, name, used_gb}]." + WATCHING,
)
async def pool_usage(
    pool_id: PathId, period: Month, user: Reader, services: Services, as_of: Day | None = AS_OF
) -> Any:
    return await services.get(
        "invoicing", f"/internal/sub-pools/{pool_id}/usage", {"period": period, **_as_of(as_of)}
    )


@router.get(
    "/alerts",
    summary="Usage alerts made: a line on a plan or a sub-pool reached a threshold in a period",
    description="Newest first; `org_id` includes its sub-organizations; `cursor` is the"
    " `next_cursor` of the page before.",
)
async def list_alerts(
    user: Reader,
    scope: OrgScope,
    services: Services,
    org_id: PathIdQuery = None,
    period: Month | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: int | None = Query(default=None, ge=1, le=2**62),
) -> Any:
    params: dict[str, Any] = {"limit": limit}
    if org_id or scope:
        params["org_id"] = org_id or scope
    if period:
        params["period"] = period
    if cursor:
        params["cursor"] = cursor
    return await services.get("invoicing", "/internal/alerts", params)


@router.get(
    "/usage/unassigned",
    summary="Usage on days no assignment covers: kept, never billed",
    description="Lines the catalog does not know, and days before, between or after a known"
    " line's assignments.",
)
async def unassigned(user: Staff, services: Services) -> Any:
    return await services.get("invoicing", "/internal/usage/unassigned")


MONTH = Annotated[
    str,
    Query(
        alias="from",
        pattern=r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$",
        description="the first month compared, YYYY-MM",
    ),
]


class ResyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_month: str = Field(alias="from", pattern=r"^(19|2[0-9])[0-9]{2}-(0[1-9]|1[0-2])$")


@router.get(
    "/usage/check",
    summary="Compare the invoicing service's monthly usage per line with the usage service's",
    description="Every (line, month, figure) that differs, and every line whose usage the"
    " invoicing service could not apply; `consistent` is true only when there is neither.",
)
async def usage_check(user: Staff, services: Services, from_month: MONTH) -> Any:
    return await services.call(
        "invoicing", "GET", "/internal/usage/check", params={"from": from_month}, timeout=600
    )


@router.post(
    "/usage/resync",
    status_code=202,
    summary="Start announcing the usage service's days again from a month on (repairs copies)",
    description="A job, one at a time (409 names the one running): follow it with"
    " `GET /usage/resync/{job_id}` (`state` running, done or failed; days, service lines and"
    " messages so far).",
)
async def usage_resync(
    body: ResyncIn, user: Admin, services: Services, db: Db, request: Request
) -> Any:
    job = await services.call(
        "usage", "POST", "/internal/usage/resync", json=body.model_dump(by_alias=True)
    )
    await record(db, user, request, "usage.resync", body.from_month, {"job": job["id"]})
    return JSONResponse(job, status_code=202)


@router.get("/usage/resync/{job_id}", summary="The progress of a resync job")
async def usage_resync_job(
    job_id: Annotated[int, Path(ge=1, le=2**62)], user: Admin, services: Services
) -> Any:
    return await services.get("usage", f"/internal/usage/resync/{job_id}")


class DismissIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500, description="why nothing is lost")


@router.post(
    "/usage/failures/{failure_id}/dismiss",
    summary="Close a usage failure an operator confirmed holds nothing to bill (audited)",
    description="Failures of lines whose usage exists are closed by `POST /usage/resync`;"
    " this is for messages that were never usage (garbage on the topic).",
)
async def dismiss_usage_failure(
    failure_id: Annotated[int, Path(ge=1, le=2**62)],
    body: DismissIn,
    user: Admin,
    services: Services,
    db: Db,
    request: Request,
) -> Any:
    result = await services.call(
        "invoicing",
        "POST",
        f"/internal/usage/failures/{failure_id}/dismiss",
        json={"reason": body.reason},
    )
    await record(db, user, request, "usage.failure_dismissed", str(failure_id), result)
    return result
