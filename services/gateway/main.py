"""Gateway process: `python -m services.gateway`. The public API under `/api/v1`, built with
the same `build_app` as the services (error handlers, health, correlation, lifespan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI

from services.gateway import edge, resources
from services.gateway.deps import CurrentUser
from services.gateway.routes import (
    API_PREFIX,
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


def whoami_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX)

    @api.get("/whoami", tags=["auth"], summary="The caller's token name, role and organization")
    async def whoami(user: CurrentUser) -> dict[str, Any]:
        return {"id": user.token_id, "name": user.name, "role": user.role, "org_id": user.org_id}

    return api


API_ROUTERS = (
    tokens.router,
    usage.router,
    catalog.router,
    invoices.router,
    payments.router,
    documents.router,
    credit_notes.router,
    audit.router,
    webhooks.router,
)
"""The public API's areas, in the order their routes are declared (and documented)."""

MATCHED_FIRST = (
    ("GET", "/api/v1/invoices/{invoice_id}"),
    ("POST", "/api/v1/invoices/{invoice_id}/payments"),
    ("POST", "/api/v1/usage/records"),
)
"""What clients call most: the detail a payer polls for its balance, the posting, the usage
pushes (`shared.route_order`)."""


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
        lambda _: ([], [health.router, web.router, *API_ROUTERS, whoami_router()]),
        door=door,
        matched_first=MATCHED_FIRST,
    )
    edge.install(app, settings, http_errors.on_unexpected)  # last: the outermost middleware
    return app
