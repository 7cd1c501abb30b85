"""Internal HTTP API of the catalog (the gateway is its only caller)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.invoicing import catalog, catalog_changes
from shared.api.catalog import (
    Organization,
    OrganizationIn,
    OrganizationPatch,
    Plan,
    PlanIn,
    PlanVersionIn,
    Product,
    ProductIn,
    ServiceLine,
    ServiceLineChange,
    ServiceLineIn,
    ServiceLinePatch,
    SubPool,
    SubPoolIn,
    SubPoolVersionIn,
)
from shared.errors import NotFound
from shared.internal_auth import Caller
from shared.service import InternalCaller, Runtime

Create = Callable[[asyncpg.Connection, Any], Awaitable[dict[str, Any]]]

RESOURCES: list[tuple[str, str, type[BaseModel], type[BaseModel], Create]] = [
    ("organizations", "organizations", OrganizationIn, Organization, catalog.create_organization),
    ("plans", "plans", PlanIn, Plan, catalog.create_plan),
    ("sub-pools", "sub_pools", SubPoolIn, SubPool, catalog.create_sub_pool),
    ("service-lines", "service_lines", ServiceLineIn, ServiceLine, catalog.create_service_line),
    ("products", "products", ProductIn, Product, catalog.create_product),
]


def router(runtime: Runtime) -> APIRouter:
    api = APIRouter(prefix="/internal")
    for path, table, model_in, model_out, create in RESOURCES:
        _add_resource(api, runtime, path, table, model_in, model_out, create)
    _add_changes(api, runtime)
    return api


async def _within(conn: asyncpg.Connection, org_id: str, caller: Caller, what: str) -> None:
    """An org_user's read: another tree's object is a 404, as if it did not exist."""
    scope = caller.org_scope
    if scope and org_id not in await catalog.org_tree(conn, scope):
        raise NotFound(f"no {what}")


USED_BY_ORGS = {
    # What an organization tree "uses" of the shared catalog: the plans its lines were ever
    # on and the products it ordered; an org user sees those and no other customer's prices.
    "plans": "id IN (SELECT plan_id FROM service_lines WHERE org_id = ANY($1))",
    "products": "id IN (SELECT unnest(product_ids) FROM product_orders WHERE org_id = ANY($1))",
    "organizations": "id = ANY($1)",
    "sub_pools": "org_id = ANY($1)",
    "service_lines": "org_id = ANY($1)",
}


async def _confined(
    conn: asyncpg.Connection, caller: Caller, table: str, org_id: str | None
) -> tuple[str, tuple[Any, ...]]:
    """The rows of `table` a list may show: those of the tree asked for (plans and products
    are not filtered by it), within the caller's own tree when it is confined to one."""
    orgs: list[str] | None = None
    if org_id and table not in ("plans", "products"):
        orgs = await catalog.org_tree(conn, org_id)
    if caller.org_scope:
        own = await catalog.org_tree(conn, caller.org_scope)
        orgs = own if orgs is None else [o for o in orgs if o in own]
    if orgs is None:
        return "TRUE", ()
    return USED_BY_ORGS[table], (orgs,)


def _add_changes(api: APIRouter, runtime: Runtime) -> None:
    """Catalog changes over time: each change answers `{before, after}` for the audit."""

    @api.get("/organizations/{org_id}")
    async def get_org(org_id: str, caller: InternalCaller) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            await _within(conn, org_id, caller, f"organization {org_id}")
            return await catalog_changes.get_organization(conn, org_id)

    @api.patch("/organizations/{org_id}")
    async def patch_org(org_id: str, body: OrganizationPatch) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return await catalog_changes.patch_organization(conn, org_id, body)

    @api.get("/service-lines/{number}")
    async def get_line(number: str, caller: InternalCaller) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            line = await catalog_changes.get_service_line(conn, number)
            await _within(conn, line["org_id"], caller, f"service line {number}")
            return line

    @api.post("/service-lines/{number}/changes", status_code=201)
    async def change_line(number: str, body: ServiceLineChange) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return await catalog_changes.change_service_line(conn, number, body)

    @api.patch("/service-lines/{number}")
    async def patch_line(number: str, body: ServiceLinePatch) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return await catalog_changes.patch_service_line(conn, number, body)

    @api.get("/plans/{plan_id}")
    async def get_plan(plan_id: str, caller: InternalCaller) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            where, args = await _confined(conn, caller, "plans", None)
            sql = f"SELECT 1 FROM plans WHERE ({where}) AND id = ${len(args) + 1}"
            if not await conn.fetchval(sql, *args, plan_id):
                raise NotFound(f"no plan {plan_id}")
            return await catalog_changes.priced_detail(conn, catalog_changes.PLANS, plan_id)

    @api.patch("/plans/{plan_id}")
    async def version_plan(plan_id: str, body: PlanVersionIn) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return await catalog_changes.add_version(conn, catalog_changes.PLANS, plan_id, body)

    @api.get("/sub-pools/{pool_id}")
    async def get_pool(pool_id: str, caller: InternalCaller) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            pool = await catalog_changes.priced_detail(conn, catalog_changes.POOLS, pool_id)
            await _within(conn, pool["org_id"], caller, f"sub-pool {pool_id}")
            return pool

    @api.patch("/sub-pools/{pool_id}")
    async def version_pool(pool_id: str, body: SubPoolVersionIn) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            return await catalog_changes.add_version(conn, catalog_changes.POOLS, pool_id, body)


def _add_resource(
    api: APIRouter,
    runtime: Runtime,
    path: str,
    table: str,
    model_in: type[BaseModel],
    model_out: type[BaseModel],
    create: Create,
) -> None:
    async def post(body: Any) -> Any:
        async with runtime.pool.acquire() as conn:
            row = await create(conn, body)
        return model_out.model_validate(row).model_dump(mode="json")

    post.__annotations__["body"] = model_in  # a typed body: FastAPI validates it

    async def get(
        caller: InternalCaller,
        limit: int = Query(default=100, ge=1, le=1000),
        cursor: str | None = None,
        org_id: str | None = None,
    ) -> dict[str, Any]:
        async with runtime.pool.acquire() as conn:
            where, args = await _confined(conn, caller, table, org_id)
            result = await catalog.page(conn, table, limit, cursor, where, args)
        result["items"] = [
            model_out.model_validate(r).model_dump(mode="json") for r in result["items"]
        ]
        return result

    api.add_api_route(f"/{path}", post, methods=["POST"], status_code=201)
    api.add_api_route(f"/{path}", get, methods=["GET"])
