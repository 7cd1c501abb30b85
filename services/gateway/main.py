"""Gateway process: `python -m services.gateway`. The public API under `/api/v1`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from services.gateway import edge, errors
from services.gateway.auth import weak_bootstrap_token
from services.gateway.auth_limits import FailureLimiter
from services.gateway.backpressure import LagMonitor
from services.gateway.deps import CurrentUser
from services.gateway.routes import (
    audit,
    catalog,
    documents,
    health,
    invoices,
    payments,
    tokens,
    usage,
    web,
)
from services.gateway.settings import GatewaySettings
from shared import correlation
from shared.db.migrate import migrate
from shared.db.pool import open_pool
from shared.internal_auth import check_secret
from shared.internal_client import ServiceClients
from shared.kafka import KafkaProducer
from shared.logs import setup_logging

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(tokens.router)
    api.include_router(usage.router)
    api.include_router(catalog.router)
    api.include_router(invoices.router)
    api.include_router(payments.router)
    api.include_router(documents.router)
    api.include_router(audit.router)

    @api.get("/whoami", tags=["auth"], summary="The caller's token name, role and organization")
    async def whoami(user: CurrentUser) -> dict[str, Any]:
        return {"id": user.token_id, "name": user.name, "role": user.role, "org_id": user.org_id}

    return api


def _bootstrap_token(token: str) -> str:
    """The bootstrap admin token, or none; a weak one stops the gateway from starting."""
    weakness = token and weak_bootstrap_token(token)
    if weakness:
        raise ValueError(
            f"BILLPORT_ADMIN_TOKEN is refused: {weakness}; set a random token (make run makes one)"
        )
    return token


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    setup_logging(settings.log_level, "gateway")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secret = check_secret(
            settings.internal_secret.get_secret_value(), "BILLPORT_INTERNAL_SECRET"
        )
        app.state.admin_token = _bootstrap_token(settings.admin_token)
        app.state.pool = await open_pool(settings)
        async with app.state.pool.acquire() as conn:
            await migrate(conn, settings.db_schema, Path(__file__).parent)
        app.state.producer = KafkaProducer(settings.kafka_bootstrap, "billport-gateway")
        await app.state.producer.start()
        app.state.services = ServiceClients(settings.service_urls(), secret)
        app.state.auth_failures = FailureLimiter(
            settings.auth_max_failures, settings.auth_failure_window_seconds
        )
        app.state.usage_lag = LagMonitor(
            settings.kafka_bootstrap, f"{settings.usage_consumer_group}.usage.raw"
        )
        await app.state.usage_lag.start()
        try:
            yield
        finally:
            await app.state.usage_lag.stop()
            await app.state.services.close()
            await app.state.producer.stop()
            await app.state.pool.close()

    app = FastAPI(
        title="BillPort API",
        version="1",
        description="Billing for Starlink resellers. Money and GB are decimal strings.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)

    @app.middleware("http")
    async def correlate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        cid = request.headers.get("x-correlation-id") or uuid.uuid4().hex
        request.state.correlation_id = cid[:100]
        correlation.bind(request.state.correlation_id)
        response = await call_next(request)
        response.headers["X-Correlation-ID"] = request.state.correlation_id
        return response

    app.include_router(health.router)
    app.include_router(web.router)
    app.include_router(api_router())
    edge.install(app, settings, errors.on_unexpected)  # last: the outermost middleware
    return app
