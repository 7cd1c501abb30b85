"""The asyncpg pool of one service, bound to its own schema; opened in the lifespan."""

from __future__ import annotations

import asyncpg

from shared.settings import ServiceSettings


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
    )
    assert pool is not None
    return pool
