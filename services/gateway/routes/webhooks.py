"""Webhooks (admin): register an HTTPS endpoint for invoice, credit note, payment and usage
alert events (the secret that signs the deliveries is answered once, at creation), list them,
delete one, enable one again after it was disabled, and read its delivery log. The notifier
holds them and delivers; each call is one call to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.audit import record
from services.gateway.deps import Admin, Db, PathId, Services
from services.gateway.routes import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["webhooks"])


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="https:// (http:// only where the deployment allows it); a public address",
        examples=["https://erp.example.com/billport/events"],
    )
    events: list[str] = Field(
        min_length=1,
        max_length=50,
        description="Event types (invoice.generated, payment.posted, usage.threshold_crossed,"
        " …; the README lists them), or `*` for every one",
        examples=[["invoice.generated", "payment.posted"]],
    )


class Webhook(BaseModel):
    id: str
    url: str
    events: list[str]
    state: Literal["active", "disabled", "deleted"]
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    created_at: datetime


class WebhookCreated(Webhook):
    secret: str = Field(description="Signs every delivery (`BillPort-Signature`); shown only now")


class WebhookPage(BaseModel):
    items: list[Webhook]
    next_cursor: str | None = None


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    id: str
    event_id: str
    event_type: str
    resource: str = Field(description="The invoice id or alert subject the event is about")
    state: Literal["PENDING", "SENDING", "DELIVERED", "FAILED"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    occurred_at: datetime = Field(description="When the event occurred: the log's order")
    created_at: datetime = Field(description="When the delivery was queued")
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: str | None = None


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register a webhook; the answer holds its secret, shown this once",
)
async def create_webhook(
    body: WebhookIn, user: Admin, services: Services, db: Db, request: Request
) -> Any:
    made = await services.call("notifier", "POST", "/internal/webhooks", json=body.model_dump())
    detail = {"url": made["url"], "events": made["events"]}  # never the secret
    await record(db, user, request, "webhook.create", made["id"], detail)
    return made


@router.get("/webhooks", response_model=WebhookPage, summary="Webhooks, oldest first (no secrets)")
async def list_webhooks(
    user: Admin,
    services: Services,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=64, description="`next_cursor`"),
) -> Any:
    params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
    return await services.get("notifier", "/internal/webhooks", params=params)


@router.delete(
    "/webhooks/{webhook_id}",
    response_model=Webhook,
    summary="Delete a webhook with its pending deliveries and its log",
)
async def delete_webhook(
    webhook_id: PathId, user: Admin, services: Services, db: Db, request: Request
) -> Any:
    gone = await services.call("notifier", "DELETE", f"/internal/webhooks/{webhook_id}")
    await record(db, user, request, "webhook.delete", webhook_id, {"url": gone["url"]})
    return gone


@router.post(
    "/webhooks/{webhook_id}/enable",
    response_model=Webhook,
    summary="Enable a disabled webhook again; what it held back is delivered at once",
)
async def enable_webhook(
    webhook_id: PathId, user: Admin, services: Services, db: Db, request: Request
) -> Any:
    made = await services.call("notifier", "POST", f"/internal/webhooks/{webhook_id}/enable")
    await record(db, user, request, "webhook.enable", webhook_id, {"url": made["url"]})
    return made


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="A webhook's delivery log, newest event first: each event, its attempts and outcome",
)
async def webhook_deliveries(
    webhook_id: PathId,
    user: Admin,
    services: Services,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, pattern=r"^\d{1,18}$", description="`next_cursor`"),
) -> Any:
    params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
    return await services.get(
        "notifier", f"/internal/webhooks/{webhook_id}/deliveries", params=params
    )
