"""Bearer tokens and roles. Tokens are stored hashed; the bootstrap admin token comes from
`BILLPORT_ADMIN_TOKEN` and is compared in constant time, never stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

import asyncpg

Role = Literal["admin", "finance", "org_user", "feed"]
ROLES: tuple[Role, ...] = ("admin", "finance", "org_user", "feed")


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: Role
    org_id: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "bp_" + secrets.token_urlsafe(32)


async def authenticate(conn: asyncpg.Connection, token: str, admin_token: str) -> Principal | None:
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(token_id="bootstrap-admin", name="bootstrap admin", role="admin")
    row = await conn.fetchrow(
        "SELECT id, name, role, org_id FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        hash_token(token),
    )
    if row is None:
        return None
    return Principal(token_id=row["id"], name=row["name"], role=row["role"], org_id=row["org_id"])
