"""The credential of an internal call: who acts, in which role and organization scope, from
which client address, signed by the caller with the deployment's internal secret.

The gateway signs one for each call it makes on behalf of a user; a service that calls another
signs one as itself (role `service`). The callee verifies it and takes the actor and the scope
from it alone, never from a body field or an unsigned header. It lives a short time (a minute)
and names its audience (the callee), so a credential seen in one place cannot be replayed
against another service, nor for long.

Signing is PyJWT with HS256: a new credential costs tens of microseconds to sign and to verify;
`sign` reuses one per caller and audience for REUSE_SECONDS and `verify` knows one it checked by
its text (still checking its expiry), so a call usually pays under a microsecond for each.
"""

from __future__ import annotations

import functools
import time
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import Forbidden, Unauthorized

HEADER = "X-BillPort-Credential"
ISSUER = "billport"
ALGORITHM = "HS256"
LIFETIME_SECONDS = 60
LEEWAY_SECONDS = 5
"""Clocks of two hosts may disagree by a little."""
MIN_SECRET_LENGTH = 32

CallerRole = Literal["admin", "finance", "org_user", "feed", "service"]


class Caller(BaseModel):
    """The verified identity of an internal call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str
    """The token id of the user (or the name of the calling service)."""
    role: CallerRole
    org_id: str | None = None
    """For an org user: the organization whose tree it may see."""
    client: str | None = None
    """The client address the gateway saw (for the audit trail)."""

    @property
    def org_scope(self) -> str | None:
        """The organization the call is confined to: an org user's, nobody else's."""
        return self.org_id if self.role == "org_user" else None

    def require(self, *roles: CallerRole) -> None:
        if self.role not in roles:
            raise Forbidden(f"this internal action needs the role {' or '.join(roles)}")


def check_secret(secret: str, setting: str) -> str:
    """Refuse to run with no secret or a short one: there is no default to fall back on."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"{setting} must be set to a random secret of at least {MIN_SECRET_LENGTH} "
            "characters (the same for every service of one deployment)"
        )
    return secret


REUSE_SECONDS = 10
"""A credential is signed once for each caller and audience in this span and reused within it:
signing was ~6 % of the gateway's CPU under the payments bench, once per call. A reused one
still lives at least LIFETIME_SECONDS - REUSE_SECONDS and names the same caller and audience,
so it proves nothing more, to nobody else, than a fresh one would."""


def sign(caller: Caller, secret: str, audience: str, now_seconds: float | None = None) -> str:
    now = int(now_seconds if now_seconds is not None else time.time())
    return _signed(caller, secret, audience, now - now % REUSE_SECONDS)


@functools.lru_cache(maxsize=4096)
def _signed(caller: Caller, secret: str, audience: str, issued: int) -> str:
    return encode(caller, secret, audience, issued)


def encode(caller: Caller, secret: str, audience: str, issued: int) -> str:
    """A new credential issued at `issued` (seconds); `sign` reuses them."""
    claims = {
        "iss": ISSUER,
        "aud": audience,
        "iat": issued,
        "exp": issued + LIFETIME_SECONDS,
        "sub": caller.actor,
        "role": caller.role,
        "org": caller.org_id,
        "cip": caller.client,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(credential: str | None, secret: str, audience: str) -> Caller:
    """The caller named by a valid credential for `audience`; 401 for anything else.

    A credential verified once is known by its exact text until it expires: a reused one
    (`sign`) costs a dictionary look, not an HMAC and a claims check, on every call."""
    if not credential:
        raise Unauthorized(f"internal calls need a signed credential in {HEADER}")
    caller, expires = _verified(credential, secret, audience)
    if time.time() > expires + LEEWAY_SECONDS:  # valid when first seen, expired since
        raise Unauthorized("the internal credential has expired")
    return caller


@functools.lru_cache(maxsize=4096)
def _verified(credential: str, secret: str, audience: str) -> tuple[Caller, int]:
    """The caller and expiry of a credential whose signature and claims hold (raises, and so
    caches nothing, for any other)."""
    return decode(credential, secret, audience)


def decode(credential: str, secret: str, audience: str) -> tuple[Caller, int]:
    """Check a credential in full: signature, audience, issuer, expiry; its caller and expiry."""
    try:
        claims = jwt.decode(
            credential,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "aud", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the internal credential has expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the internal credential is not valid") from None
    try:
        caller = Caller(
            actor=claims["sub"],
            role=claims.get("role"),
            org_id=claims.get("org"),
            client=claims.get("cip"),
        )
    except ValidationError:
        raise Unauthorized("the internal credential names no known role") from None
    return caller, int(claims["exp"])
