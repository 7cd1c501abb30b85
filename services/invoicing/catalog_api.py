"""Internal HTTP API of the catalog (the gateway is its only caller)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.invoicing import catalog
from shared.api.catalog import (
    Organization,
    OrganizationIn,
    Plan,
    PlanIn,
    Product,
    ProductIn,
    ServiceLine,
    ServiceLineIn,
    SubPool,
    SubPoolIn,
)
from shared.service import Runtime

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
    return api


def _add_resource(
    api: APIRouter,
    runtime: Runtime,
    path: str,
    table: str,
    model_in: type[BaseModel],
    model_out: type[BaseModel],
    create: Create,
) -> None:
    async def post(body: dict[str, Any]) -> Any:
        parsed = model_in.model_validate(body)
        async with runtime.pool.acquire() as conn:
            row = await create(conn, parsed)
        return model_out.model_validate(row).model_dump(mode="json")

    async def get(
        limit: int = Query(default=100, ge=1, le=1000),
        cursor: str | None = None,
        org_id: str | None = None,
    ) -> dict[str, Any]:
        where: str = "TRUE"
        args: tuple[Any, ...] = ()
        async with runtime.pool.acquire() as conn:
            if org_id and table != "plans" and table != "products":
                column = "id" if table == "organizations" else "org_id"
                where, args = f"{column} = ANY($1)", (await catalog.org_tree(conn, org_id),)
            result = await catalog.page(conn, table, limit, cursor, where, args)
        result["items"] = [
            model_out.model_validate(r).model_dump(mode="json") for r in result["items"]
        ]
        return result

    api.add_api_route(f"/{path}", post, methods=["POST"], status_code=201)
    api.add_api_route(f"/{path}", get, methods=["GET"])
