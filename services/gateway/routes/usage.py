"""Usage routes: feeds push records; admins and finance read daily usage."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.gateway.deps import Feed, Producer, Services, Settings, Staff
from services.gateway.ingest import (
    IngestResult,
    UsageRecordIn,
    group_by_line,
    publish,
    validate_records,
)
from shared.errors import BadRequest, ValidationFailed
from shared.events.envelope import loads_exact
from shared.metrics import REJECTED

router = APIRouter(tags=["usage"])
# Reads are for admin and finance until service lines belong to organizations in the catalog;
# then org_user gets its own organization's lines (organization scoping).

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
                            "items": UsageRecordIn.model_json_schema(
                                ref_template="#/components/schemas/{model}"
                            ),
                        }
                    },
                }
            }
        },
    }
}


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise BadRequest("the request body is empty; send JSON")
    try:
        return loads_exact(raw)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


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
    body = await json_body(request)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise ValidationFailed(
            "expected an object with a list `records`",
            fields={"records": "must be a list of usage records"},
        )
    if len(records) > settings.max_records_per_request:
        raise ValidationFailed(
            f"at most {settings.max_records_per_request} records per request",
            fields={"records": f"{len(records)} records; split the batch"},
        )
    good, bad = validate_records(records)
    if bad:
        REJECTED.labels("usage.records").inc(len(bad))
    correlation = request.state.correlation_id
    await publish(producer, group_by_line(good, f"records:{user.token_id}", correlation))
    result = IngestResult(accepted=len(good), rejected=bad)
    return JSONResponse(result.model_dump(mode="json"), status_code=202)


@router.get(
    "/service-lines/{service_line_number}/usage",
    summary="Daily usage of a service line, dates inclusive, with totals",
)
async def line_usage(
    service_line_number: str,
    user: Staff,
    services: Services,
    start: date = Query(alias="from"),
    end: date = Query(alias="to"),
) -> Any:
    return await services.get(
        "usage",
        f"/internal/service-lines/{service_line_number}/usage",
        {"from": start.isoformat(), "to": end.isoformat()},
    )


@router.get(
    "/service-lines/{service_line_number}/usage-summary",
    summary="A period's usage of a service line as the invoicing service sees it for billing",
)
async def line_usage_summary(
    service_line_number: str, period: str, user: Staff, services: Services
) -> Any:
    return await services.get(
        "invoicing",
        f"/internal/service-lines/{service_line_number}/usage-summary",
        {"period": period},
    )
