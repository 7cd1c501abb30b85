"""Bearer tokens and roles. Tokens are stored hashed, may expire and be revoked (a database
read on every request, so a revocation holds at once on every replica); the bootstrap admin
token comes from `BILLPORT_ADMIN_TOKEN`, is compared in constant time and never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

Role = Literal["admin", "finance", "org_user", "feed"]
ROLES: tuple[Role, ...] = ("admin", "finance", "org_user", "feed")
BOOTSTRAP_ID = "bootstrap-admin"
MIN_BOOTSTRAP_LENGTH = 32
PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "replace",
    "placeholder",
    "example",
    "password",
    "your-token",
    "xxxxxx",
)
"""Words that mark a placeholder someone forgot to replace (change-me, replace-me, …)."""
LAST_USE_PRECISION = timedelta(minutes=1)
"""`last_used_at` is written at most once a minute per token: a write per request would cost
every request a round trip for a figure nobody needs to the second."""


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: Role
    org_id: str | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a presented token was refused (audited; the caller learns only the 401)."""

    reason: Literal["unknown", "revoked", "expired"]
    token_id: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "bp_" + secrets.token_urlsafe(32)


def weak_bootstrap_token(token: str) -> str | None:
    """Why a bootstrap admin token is too weak to accept, or None when it is fine."""
    if len(token) < MIN_BOOTSTRAP_LENGTH:
        return f"it is shorter than {MIN_BOOTSTRAP_LENGTH} characters"
    if len(set(token)) < 10:
        return "it repeats too few distinct characters"
    lowered = token.lower()
    for word in PLACEHOLDERS:
        if word in lowered:
            return f"it looks like a placeholder (contains {word!r})"
    return None


def bootstrap(token: str, admin_token: str) -> Principal | None:
    """The bootstrap admin when `token` is `BILLPORT_ADMIN_TOKEN` (constant time), else None:
    known without the database."""
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(token_id=BOOTSTRAP_ID, name="bootstrap admin", role="admin")
    return None


async def authenticate(
    conn: asyncpg.Connection, token: str, admin_token: str
) -> Principal | Refusal:
    admin = bootstrap(token, admin_token)
    if admin is not None:
        return admin
    row = await conn.fetchrow(
        "SELECT id, name, role, org_id, revoked_at, expires_at, last_used_at"
        " FROM tokens WHERE token_hash = $1",
        hash_token(token),
    )
    if row is None:
        return Refusal("unknown")
    now = datetime.now(UTC)
    if row["revoked_at"] is not None:
        return Refusal("revoked", row["id"])
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return Refusal("expired", row["id"])
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USE_PRECISION:
        await conn.execute("UPDATE tokens SET last_used_at = $2 WHERE id = $1", row["id"], now)
    return Principal(token_id=row["id"], name=row["name"], role=row["role"], org_id=row["org_id"])
