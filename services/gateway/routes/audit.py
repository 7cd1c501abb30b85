"""The audit trail: every state-changing action, who did it, when, from where (admins only)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query

from services.gateway.deps import Admin, Db
from services.gateway.routes import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["audit"])


@router.get("/audit", summary="Audit records, newest first; filter by action or subject")
async def audit_records(
    user: Admin,
    db: Db,
    action: str | None = None,
    subject: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    cursor: int | None = Query(default=None, description="`next_cursor` of the previous page"),
) -> dict[str, Any]:
    rows = await db.fetch(
        "SELECT id, at, actor, role, client_ip, action, subject, detail FROM audit_log"
        " WHERE ($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR subject = $2)"
        "   AND ($3::bigint IS NULL OR id < $3)"
        " ORDER BY id DESC LIMIT $4",
        action,
        subject,
        cursor,
        limit + 1,
    )
    items = [
        {
            "id": str(r["id"]),
            "at": r["at"].isoformat().replace("+00:00", "Z"),
            "actor": r["actor"],
            "role": r["role"],
            "client_ip": r["client_ip"],
            "action": r["action"],
            "subject": r["subject"],
            "detail": json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"],
        }
        for r in rows[:limit]
    ]
    return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}
