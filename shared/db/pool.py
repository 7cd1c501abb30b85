"""The asyncpg pool of one service, bound to its own schema; opened in the lifespan."""

from __future__ import annotations

import asyncpg

from shared.settings import ServiceSettings


async def keep_session(conn: asyncpg.Connection) -> None:
    """What a connection returned to the pool needs beyond asyncpg's own cleanup (an open
    transaction rolled back, listeners dropped): nothing. asyncpg's default reset sends
    `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release, a
    round trip per request for state we never leave: no session SET (the pool's settings are
    fixed at connect), advisory locks are transaction-scoped (migrations unlock theirs), no
    cursors WITH HOLD, and LISTEN only on the outbox relay's connection, released at shutdown."""


async def open_pool(settings: ServiceSettings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        server_settings={
            "search_path": settings.db_schema,
            "application_name": f"billport-{settings.service_name}-{settings.instance}",
            "timezone": "UTC",
        },
        command_timeout=60,
        reset=keep_session,
    )
    assert pool is not None
    return pool
