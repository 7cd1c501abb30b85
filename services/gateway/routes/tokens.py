"""`POST /tokens` (admin): API tokens for people and feeds; the token is shown this once."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.gateway.audit import record
from services.gateway.auth import Role, hash_token, new_token
from services.gateway.deps import Admin, Db

router = APIRouter(tags=["auth"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    role: Role
    org_id: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _org_scope(self) -> TokenIn:
        if self.role == "org_user" and not self.org_id:
            raise ValueError("org_id is required for the org_user role")
        if self.role != "org_user" and self.org_id:
            raise ValueError("org_id is only for the org_user role")
        return self


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    org_id: str | None
    token: str


@router.post("/tokens", status_code=201, response_model=TokenOut)
async def create_token(body: TokenIn, user: Admin, db: Db, request: Request) -> TokenOut:
    token = new_token()
    token_id = "tok_" + uuid.uuid4().hex[:16]
    async with db.transaction():
        await db.execute(
            "INSERT INTO tokens (id, name, role, org_id, token_hash, created_by)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            token_id,
            body.name,
            body.role,
            body.org_id,
            hash_token(token),
            user.token_id,
        )
        await record(db, user, request, "token.create", token_id, {"role": body.role})
    return TokenOut(id=token_id, name=body.name, role=body.role, org_id=body.org_id, token=token)
