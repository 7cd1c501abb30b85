"""Versioned SQL migrations per schema.

Each service owns one schema. Its migrations are the shared plumbing (`shared/db/migrations`:
outbox, processed events) followed by its own (`services/<name>/migrations`), applied in name
order, each once, each in its own transaction, under an advisory lock so replicas starting
together do not race.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import asyncpg

PLUMBING = Path(__file__).parent / "migrations"


def migration_files(service_dir: Path) -> list[tuple[str, Path]]:
    plumbing = [(f"shared/{p.name}", p) for p in sorted(PLUMBING.glob("*.sql"))]
    own_dir = service_dir / "migrations"
    own = [(f"own/{p.name}", p) for p in sorted(own_dir.glob("*.sql"))] if own_dir.exists() else []
    return plumbing + own


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:7], "big")


async def migrate(conn: asyncpg.Connection, schema: str, service_dir: Path) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    await conn.execute("SELECT pg_advisory_lock($1)", _lock_key(schema))
    try:
        # Where roles are provisioned (deploy/postgres/roles.sql) the schema already exists,
        # owned by the service's role, which may not create schemas: CREATE SCHEMA, even with
        # IF NOT EXISTS, needs CREATE on the database, so it is issued only when missing.
        if not await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        applied = []
        for name, path in migration_files(service_dir):
            if name in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(schema))
