"""Gateway process: `python -m services.gateway`. The public API under `/api/v1`, built with
the same `build_app` as the services (error handlers, health, correlation, lifespan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI

from services.gateway import edge, resources
from services.gateway.deps import CurrentUser
from services.gateway.routes import (
    audit,
    catalog,
    credit_notes,
    documents,
    health,
    invoices,
    payments,
    tokens,
    usage,
    web,
    webhooks,
)
from services.gateway.settings import GatewaySettings
from shared import http_errors
from shared.service import Door, build_app

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(tokens.router)
    api.include_router(usage.router)
    api.include_router(catalog.router)
    api.include_router(invoices.router)
    api.include_router(payments.router)
    api.include_router(documents.router)
    api.include_router(credit_notes.router)
    api.include_router(audit.router)
    api.include_router(webhooks.router)

    @api.get("/whoami", tags=["auth"], summary="The caller's token name, role and organization")
    async def whoami(user: CurrentUser) -> dict[str, Any]:
        return {"id": user.token_id, "name": user.name, "role": user.role, "org_id": user.org_id}

    return api


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    door = Door(
        title="BillPort API",
        description="Billing for Starlink resellers. Money and GB are decimal strings.",
        internal=False,  # the public routes authenticate bearer tokens (`deps.CurrentUser`)
        outbox=False,  # the gateway publishes usage pushes directly, acknowledged by Kafka
        resources=resources.opened,
        components=resources.components,
    )
    app = build_app(
        settings,
        Path(__file__).parent,
        lambda _: ([], [health.router, web.router, api_router()]),
        door=door,
    )
    edge.install(app, settings, http_errors.on_unexpected)  # last: the outermost middleware
    return app
