"""SQL of the catalog (schema `invoicing`): checks that need the database, with clear errors."""

from __future__ import annotations

import json
import secrets
from typing import Any

import asyncpg

from services.invoicing import composing
from shared.api.catalog import (
    OrganizationIn,
    PlanIn,
    ProductIn,
    ServiceLineIn,
    SubPoolIn,
)
from shared.errors import Conflict, ValidationFailed
from shared.money import format_gb

COLUMNS = {
    "organizations": "id, name, parent_id, customer_emails, finance_emails, payment_terms_days,"
    " legal_name, billing_address, tax_id, tax_rate, tax_exempt_reason, peppol_id,"
    " usage_alert_thresholds",
    "plans": "id, name, monthly_price, allowance_gb, overage_price_per_gb, overage_block_gb,"
    " overage_block_price",
    "sub_pools": "id, org_id, name, monthly_price, allowance_gb, overage_price_per_gb",
    "service_lines": "id, service_line_number, name, org_id, plan_id, sub_pool_id, active_from,"
    " active_to",
    "products": "id, name, unit_price",
}
PREFIX = {
    "organizations": "org",
    "plans": "plan",
    "sub_pools": "pool",
    "service_lines": "sl",
    "products": "prod",
}
GB_COLUMNS = {"allowance_gb", "overage_block_gb"}
JSON_COLUMNS = {"billing_address"}
"""jsonb columns: asyncpg reads and writes them as JSON text (no codec is set on the pool)."""


def new_id(table: str) -> str:
    return f"{PREFIX[table]}_{secrets.token_hex(6)}"


def as_api(record: asyncpg.Record) -> dict[str, Any]:
    """A row as the API shows it: GB without padding zeros (money is formatted by the model)."""
    row = dict(record)
    for column in GB_COLUMNS & row.keys():
        if row[column] is not None:
            row[column] = format_gb(row[column])
    for column in JSON_COLUMNS & row.keys():
        if row[column] is not None:
            row[column] = json.loads(row[column])
    return row


def as_stored(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the columns take them: a jsonb column's object as JSON text."""
    return {
        k: json.dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in values.items()
    }


async def insert(conn: asyncpg.Connection, table: str, values: dict[str, Any]) -> dict[str, Any]:
    values = {"id": new_id(table), **as_stored(values)}
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    try:
        row = await conn.fetchrow(
            f"INSERT INTO {table} ({columns}) VALUES ({params}) RETURNING {COLUMNS[table]}",
            *values.values(),
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            f"{table.replace('_', ' ')[:-1]} named {values.get('name')!r} exists",
            fields={"name": "already taken"},
        ) from None
    assert row is not None
    return as_api(row)


async def page(
    conn: asyncpg.Connection,
    table: str,
    limit: int,
    cursor: str | None,
    where: str = "TRUE",
    args: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """`{items, next_cursor}`: keyset pagination on id."""
    n = len(args)
    rows = await conn.fetch(
        f"SELECT {COLUMNS[table]} FROM {table} WHERE ({where}) AND id > ${n + 1}"
        f" ORDER BY id LIMIT ${n + 2}",
        *args,
        cursor or "",
        limit + 1,
    )
    items = [as_api(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}


async def require(conn: asyncpg.Connection, table: str, id_: str, field: str) -> asyncpg.Record:
    row = await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1", id_)
    if row is None:
        what = table.replace("_", " ")[:-1]
        raise ValidationFailed(f"unknown {what} {id_}", fields={field: f"no {what} {id_}"})
    return row


async def create_organization(conn: asyncpg.Connection, body: OrganizationIn) -> dict[str, Any]:
    if body.parent_id:
        await require(conn, "organizations", body.parent_id, "parent_id")
    return await insert(conn, "organizations", body.model_dump())


async def create_plan(conn: asyncpg.Connection, body: PlanIn) -> dict[str, Any]:
    return await insert(conn, "plans", body.model_dump())


async def create_sub_pool(conn: asyncpg.Connection, body: SubPoolIn) -> dict[str, Any]:
    await require(conn, "organizations", body.org_id, "org_id")
    return await insert(conn, "sub_pools", body.model_dump())


async def org_tree(conn: asyncpg.Connection, org_id: str) -> list[str]:
    """The organization and every organization below it."""
    rows = await conn.fetch(
        "WITH RECURSIVE tree AS (SELECT id FROM organizations WHERE id = $1"
        " UNION ALL SELECT o.id FROM organizations o JOIN tree t ON o.parent_id = t.id)"
        " SELECT id FROM tree",
        org_id,
    )
    return [r["id"] for r in rows]


async def create_service_line(conn: asyncpg.Connection, body: ServiceLineIn) -> dict[str, Any]:
    await require(conn, "organizations", body.org_id, "org_id")
    if body.plan_id:
        await require(conn, "plans", body.plan_id, "plan_id")
    pool = None
    if body.sub_pool_id:
        pool = await require(conn, "sub_pools", body.sub_pool_id, "sub_pool_id")
        if body.org_id not in await org_tree(conn, pool["org_id"]):
            raise ValidationFailed(
                "a service line joins a sub-pool of its own organization or of one above it",
                fields={"sub_pool_id": f"belongs to organization {pool['org_id']}"},
            )
    try:
        async with conn.transaction():
            created = await insert(conn, "service_lines", body.model_dump())
            # A line activated (or back-dated) into a month already run owes its charges.
            orgs = {body.org_id} | ({pool["org_id"]} if pool is not None else set())
            await composing.mark(conn, orgs, body.active_from)
            return created
    except asyncpg.ExclusionViolationError:
        raise Conflict(
            f"service line {body.service_line_number} is already active on some of these days",
            fields={"active_from": "overlaps another assignment of this service line"},
        ) from None


async def create_product(conn: asyncpg.Connection, body: ProductIn) -> dict[str, Any]:
    return await insert(conn, "products", body.model_dump())
