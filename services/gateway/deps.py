"""Annotated dependencies of the gateway: `Db`, `CurrentUser`, role guards, `OrgScope`, and
`Services` (the internal clients, each call signed for the current user)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.gateway import audit, resources
from services.gateway.auth import Principal, Refusal, Role, authenticate, bootstrap
from services.gateway.errors import Busy
from services.gateway.settings import GatewaySettings
from shared.errors import Forbidden, Unauthorized
from shared.internal_auth import Caller
from shared.internal_client import CallerClients
from shared.kafka import KafkaProducer
from shared.service import Runtime


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_db(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with _runtime(request).pool.acquire() as conn:
        yield conn


Db = Annotated[asyncpg.Connection, Depends(get_db)]


# Dependencies are `async def` even when they do no I/O: FastAPI runs a plain `def` on its
# thread pool, one thread hand-off per request (tests/unit/test_architecture.py checks).
async def _settings(request: Request) -> GatewaySettings:
    return resources.of(request).settings


async def _producer(request: Request) -> KafkaProducer:
    return _runtime(request).producer


Settings = Annotated[GatewaySettings, Depends(_settings)]
Producer = Annotated[KafkaProducer, Depends(_producer)]


def client_ip(request: Request) -> str | None:
    """The client's address: the peer's, or what a trusted proxy forwarded for it (uvicorn
    believes `X-Forwarded-For` only from BILLPORT_GATEWAY_TRUSTED_PROXIES, by default nobody)."""
    return request.client.host if request.client else None


class Bearer(HTTPBearer):
    """The caller, from its bearer token, and with `roles` the roles let through (401 without
    a valid token, 403 for another role): reading the header, authenticating the token and
    checking the role are one dependency. FastAPI solves each dependency of a request through
    layers of its own (key, scopes, parameters): with the header, the user and the role check
    as three, solving them took about a sixth of the gateway's CPU on a proxied read. As an
    `HTTPBearer` it is still the API's one security scheme in the OpenAPI document.

    The caller is authenticated once a request (`request.state.principal`, set only here):
    a route's role check and its `Services` share it."""

    def __init__(self, *roles: Role) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="An API token: `Authorization: Bearer …`",
        )
        self.roles = roles

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        user: Principal | None = getattr(request.state, "principal", None)
        if user is None:
            user = await _authenticated(request, await super().__call__(request))
            request.state.principal = user
        if self.roles and user.role not in self.roles:
            raise Forbidden(
                f"this action needs the role {' or '.join(self.roles)}; you are {user.role}"
            )
        return user


async def _authenticated(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    gateway = resources.of(request)
    limiter = gateway.auth_failures
    client = client_ip(request) or "unknown"
    wait = limiter.retry_after_seconds(client)
    if wait:
        raise Busy(
            "too many failed sign-ins from this address; wait before trying again",
            retry_after_seconds=wait,
        )
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    admin = bootstrap(credentials.credentials, gateway.admin_token)
    if admin is not None:  # no connection taken: a pool round trip saved on every call
        return admin
    async with _runtime(request).pool.acquire() as conn:
        found = await authenticate(conn, credentials.credentials, gateway.admin_token)
        if isinstance(found, Refusal):
            reached_limit = limiter.failed(client)
            await audit.record_refusal(conn, client, request, found, reached_limit)
            raise Unauthorized("the token is unknown, revoked or expired")
    return found


current_user = Bearer()
CurrentUser = Annotated[Principal, Depends(current_user)]


def require(*roles: Role) -> Bearer:
    """A dependency that lets only these roles through (401 without a token, 403 otherwise)."""
    return Bearer(*roles)


Admin = Annotated[Principal, Depends(require("admin"))]
Feed = Annotated[Principal, Depends(require("admin", "feed"))]
Staff = Annotated[Principal, Depends(require("admin", "finance"))]
Reader = Annotated[Principal, Depends(require("admin", "finance", "org_user"))]


async def org_scope(user: CurrentUser) -> str | None:
    """The organization whose tree the caller is confined to: an org user's own, whatever it
    asks for; None for staff. The services confine the call too, from its credential."""
    return user.org_id if user.role == "org_user" else None


OrgScope = Annotated[str | None, Depends(org_scope)]


async def _services(request: Request, user: CurrentUser) -> CallerClients:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every call.
    clients = resources.of(request).services
    caller = Caller(
        actor=user.token_id, role=user.role, org_id=user.org_id, client=client_ip(request)
    )
    return clients.acting_as(caller)


Services = Annotated[CallerClients, Depends(_services)]
"""The internal clients, every call signed for the current user (actor, role, org scope and
client address travel in the credential, never in a body field or a plain header)."""


IDENT = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
"""What an id in a path may hold (invoice numbers, payment ids, service line numbers): letters,
digits and `._:-`, up to 64, so that it travels safely to the services' internal URLs."""
PathId = Annotated[str, Path(pattern=IDENT, description="letters, digits and ._:- (1 to 64)")]
