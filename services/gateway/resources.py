"""What the gateway holds besides the pool and the producer every process has: the signed
clients of the services, the failed sign-in limiter, the watch on the usage consumers' lag and
the checked bootstrap token. Opened in the lifespan (`shared.service.Door.resources`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from services.gateway.auth import weak_bootstrap_token
from services.gateway.auth_limits import FailureLimiter
from services.gateway.backpressure import LagMonitor, Watched
from services.gateway.settings import GatewaySettings
from shared.events.topics import USAGE_RAW, USAGE_RECORDED
from shared.internal_auth import check_secret
from shared.internal_client import ServiceClients
from shared.service import Runtime, check_components

KEY = "gateway"


@dataclass(frozen=True)
class Gateway:
    settings: GatewaySettings
    services: ServiceClients
    auth_failures: FailureLimiter
    usage_lag: LagMonitor
    admin_token: str


def bootstrap_token(token: str) -> str:
    """The bootstrap admin token, or none; a weak one stops the gateway from starting."""
    weakness = token and weak_bootstrap_token(token)
    if weakness:
        raise ValueError(
            f"BILLPORT_ADMIN_TOKEN is refused: {weakness}; set a random token (make run makes one)"
        )
    return token


@asynccontextmanager
async def opened(runtime: Runtime) -> AsyncIterator[None]:
    settings = runtime.settings
    assert isinstance(settings, GatewaySettings)
    secret = check_secret(runtime.secret, "BILLPORT_INTERNAL_SECRET")
    admin_token = bootstrap_token(settings.admin_token)
    services = ServiceClients(settings.service_urls(), secret)
    lag = LagMonitor(
        settings.kafka_bootstrap,
        [
            Watched(
                f"{settings.usage_consumer_group}.{USAGE_RAW.name}",
                USAGE_RAW.name,
                settings.usage_max_lag,
            ),
            Watched(
                f"{settings.invoicing_consumer_group}.{USAGE_RECORDED.name}",
                USAGE_RECORDED.name,
                settings.usage_recorded_max_lag,
            ),
        ],
        settings.usage_lag_interval_seconds,
    )
    await lag.start()
    limiter = FailureLimiter(settings.auth_max_failures, settings.auth_failure_window_seconds)
    runtime.extras[KEY] = Gateway(settings, services, limiter, lag, admin_token)
    try:
        yield
    finally:
        await lag.stop()
        await services.close()


def of(request: Request) -> Gateway:
    """The gateway's resources, from a request."""
    runtime: Runtime = request.app.state.runtime
    return runtime.extras[KEY]  # type: ignore[no-any-return]


async def components(runtime: Runtime) -> dict[str, Any]:
    """What the gateway's `/healthz` names: itself, every service (each replica), Kafka and
    PostgreSQL."""
    services: ServiceClients = runtime.extras[KEY].services
    names = services.names()
    own = await check_components(runtime)
    states = [await services.health(name) for name in names]
    return {"gateway": {"state": "up"}, **dict(zip(names, states, strict=True)), **own}
