"""Audit records: who did what, when, from where."""

from __future__ import annotations

import asyncio
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


Row = tuple[str, str, str | None, str, str | None, str]
"""actor, role, client_ip, action, subject, detail (JSON)."""


class Batcher:
    """Audit rows of concurrent requests written together (a group commit): each caller waits
    until its own row is committed, so nothing is answered unaudited, but the rows that come in
    while one insert is in flight go into the next, as one statement. Under load this spares
    most requests a pool connection and a statement of their own; alone, a row costs what
    `record` does."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._waiting: list[tuple[Row, asyncio.Future[None]]] = []
        self._writing = False
        self._task: asyncio.Task[None] | None = None

    async def write(self, row: Row) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if not self._writing:
            self._writing = True
            self._task = asyncio.create_task(self._drain())  # held: a task is weakly kept
        await asyncio.shield(done)  # a caller gone away leaves its row to be written

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    await self._insert([row for row, _ in batch])
                except Exception as exc:  # each caller answers 500: its row is not stored
                    for _, done in batch:
                        done.set_exception(exc)
                else:
                    for _, done in batch:
                        done.set_result(None)
        finally:
            self._writing = False

    async def _insert(self, rows: list[Row]) -> None:
        columns = list(zip(*rows, strict=True))
        async with self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO audit_log (actor, role, client_ip, action, subject, detail)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                " $5::text[], $6::jsonb[])",
                *columns,
            )


def batcher(request: Request) -> Batcher:
    """The gateway's batcher of audit rows (one per application, made on first use)."""
    state = request.app.state
    found: Batcher | None = getattr(state, "audit_batcher", None)
    if found is None:
        found = state.audit_batcher = Batcher(state.runtime.pool)
    return found


async def record_batched(
    user: Principal,
    request: Request,
    action: str,
    subject: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """As `record`, written with other requests' rows (`Batcher`): the same row, committed
    before the caller answers, without a connection of the request's own."""
    client = request.client.host if request.client else None  # as uvicorn resolved it
    row: Row = (user.token_id, user.role, client, action, subject, json.dumps(detail or {}))
    await batcher(request).write(row)
