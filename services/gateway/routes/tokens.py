"""API tokens (admin): create (the token is shown this once), list, revoke. A token may carry an
expiry; a revoked or expired token is refused at once on every replica (each request reads it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Query, Request
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from services.gateway.audit import record
from services.gateway.auth import Role, hash_token, new_token
from services.gateway.deps import Admin, Db, PathId, Services
from services.gateway.routes import API_PREFIX
from shared.api.types import FIRST_DAY, LAST_DAY
from shared.errors import NotFound, ValidationFailed
from shared.internal_client import ServiceError

router = APIRouter(prefix=API_PREFIX, tags=["auth"])
_COLUMNS = "id, name, role, org_id, created_at, last_used_at, expires_at, revoked_at"


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Role
    org_id: str | None = Field(default=None, min_length=1, max_length=100)
    expires_at: AwareDatetime | None = Field(
        default=None, description="RFC 3339 with a zone; after it the token is refused"
    )

    @field_validator("expires_at")
    @classmethod
    def _within_years(cls, value: datetime | None) -> datetime | None:
        if value is not None and not FIRST_DAY.year <= value.year <= LAST_DAY.year:
            raise ValueError("must be between 1900 and 2999")
        return value

    @model_validator(mode="after")
    def _org_scope(self) -> TokenIn:
        if self.role == "org_user" and not self.org_id:
            raise ValueError("org_id is required for the org_user role")
        if self.role != "org_user" and self.org_id:
            raise ValueError("org_id is only for the org_user role")
        return self


class TokenInfo(BaseModel):
    """A token as listed: never its secret."""

    id: str
    name: str
    role: Role
    org_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    org_id: str | None
    expires_at: datetime | None
    token: str


class TokenPage(BaseModel):
    items: list[TokenInfo]
    next_cursor: str | None


def _info(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(**dict(row))


async def _known_org(services: Services, org_id: str) -> None:
    try:
        await services.get("invoicing", f"/internal/organizations/{org_id}")
    except ServiceError as exc:
        if exc.http_status != 404:
            raise
        raise ValidationFailed(
            "no such organization", fields={"org_id": f"no organization {org_id}"}
        ) from None


@router.post("/tokens", status_code=201, response_model=TokenOut)
async def create_token(
    body: TokenIn, user: Admin, db: Db, services: Services, request: Request
) -> TokenOut:
    if body.expires_at is not None and body.expires_at <= datetime.now(UTC):
        raise ValidationFailed("the expiry is past", fields={"expires_at": "must be in the future"})
    if body.org_id is not None:
        await _known_org(services, body.org_id)
    token = new_token()
    token_id = "tok_" + uuid.uuid4().hex[:16]
    async with db.transaction():
        await db.execute(
            "INSERT INTO tokens (id, name, role, org_id, token_hash, created_by, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            token_id,
            body.name,
            body.role,
            body.org_id,
            hash_token(token),
            user.token_id,
            body.expires_at,
        )
        detail = {"role": body.role, "org_id": body.org_id}
        await record(db, user, request, "token.create", token_id, detail)
    return TokenOut(
        id=token_id,
        name=body.name,
        role=body.role,
        org_id=body.org_id,
        expires_at=body.expires_at,
        token=token,
    )


@router.get("/tokens", response_model=TokenPage, summary="API tokens, newest first (no secrets)")
async def list_tokens(
    user: Admin,
    db: Db,
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: str | None = Query(default=None, max_length=40, description="`next_cursor`"),
) -> TokenPage:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM tokens WHERE $1::text IS NULL"
        " OR (created_at, id) < (SELECT created_at, id FROM tokens WHERE id = $1)"
        " ORDER BY created_at DESC, id DESC LIMIT $2",
        cursor,
        limit + 1,
    )
    items = [_info(r) for r in rows[:limit]]
    return TokenPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


@router.delete(
    "/tokens/{token_id}",
    response_model=TokenInfo,
    summary="Revoke a token: its next request is a 401 on every replica (twice: no change)",
)
async def revoke_token(token_id: PathId, user: Admin, db: Db, request: Request) -> Any:
    async with db.transaction():
        row = await db.fetchrow(
            "UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
            f" RETURNING {_COLUMNS}",
            token_id,
        )
        if row is None:
            raise NotFound(f"no token {token_id}")
        await record(db, user, request, "token.revoke", token_id, {"name": row["name"]})
    return _info(row)
