"""Annotated dependencies of the gateway: `Db`, `CurrentUser`, role guards, service clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.auth import Principal, Role, authenticate
from services.gateway.clients import ServiceClients
from services.gateway.settings import GatewaySettings
from shared.errors import Forbidden, Unauthorized
from shared.kafka import KafkaProducer


def _state(request: Request) -> Any:
    return request.app.state


async def get_db(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with _state(request).pool.acquire() as conn:
        yield conn


Db = Annotated[asyncpg.Connection, Depends(get_db)]


def _settings(request: Request) -> GatewaySettings:
    return _state(request).settings  # type: ignore[no-any-return]


def _producer(request: Request) -> KafkaProducer:
    return _state(request).producer  # type: ignore[no-any-return]


def _services(request: Request) -> ServiceClients:
    return _state(request).services  # type: ignore[no-any-return]


Settings = Annotated[GatewaySettings, Depends(_settings)]
Producer = Annotated[KafkaProducer, Depends(_producer)]
Services = Annotated[ServiceClients, Depends(_services)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer …`")


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    state = _state(request)
    async with state.pool.acquire() as conn:
        principal = await authenticate(conn, credentials.credentials, state.settings.admin_token)
    if principal is None:
        raise Unauthorized("unknown or revoked token")
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets only these roles through (401 without a token, 403 otherwise)."""

    async def guard(user: CurrentUser) -> Principal:
        if user.role not in roles:
            raise Forbidden(f"this action needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    guard.allowed_roles = roles  # type: ignore[attr-defined]
    return guard


Admin = Annotated[Principal, Depends(require("admin"))]
Feed = Annotated[Principal, Depends(require("admin", "feed"))]
Staff = Annotated[Principal, Depends(require("admin", "finance"))]
Reader = Annotated[Principal, Depends(require("admin", "finance", "org_user"))]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
"""What an id in a path may hold (invoice numbers, payment ids, service line numbers): letters,
digits and `._:-`, up to 64, so that it travels safely to the services' internal URLs."""
PathId = Annotated[str, Path(pattern=IDENT, description="letters, digits and ._:- (1 to 64)")]
