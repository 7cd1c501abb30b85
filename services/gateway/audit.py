"""Audit records: who did what, when, from where."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from fastapi import Request

from services.gateway.auth import Principal


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
        request.client.host if request.client else None,
        action,
        subject,
        json.dumps(detail or {}),
    )
