"""Audit records: who did what, when, from where."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from fastapi import Request

from services.gateway.auth import Principal, Refusal


async def record(
    db: asyncpg.Connection,
    user: Principal,
    request: Request,
    action: str,
    subject: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await db.execute(
        "INSERT INTO audit_log (actor, role, client_ip, action, subject, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        user.token_id,
        user.role,
        request.client.host if request.client else None,  # as uvicorn resolved it
        action,
        subject,
        json.dumps(detail or {}),
    )


async def record_refusal(
    db: asyncpg.Connection,
    client: str,
    request: Request,
    refusal: Refusal,
    reached_limit: bool,
) -> None:
    """A refused sign-in: which token (when it was a known one), why, from where. Once the
    address reaches the limit, its further attempts are refused unread and not recorded."""
    detail: dict[str, Any] = {"reason": refusal.reason, "path": request.url.path}
    if reached_limit:
        detail["rate_limited"] = True
    await db.execute(
        "INSERT INTO audit_log (actor, role, client_ip, action, subject, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        refusal.token_id or "anonymous",
        "none",
        client,
        "auth.failed",
        refusal.token_id,
        json.dumps(detail),
    )
