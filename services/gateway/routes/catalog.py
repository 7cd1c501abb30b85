"""Catalog routes (`/organizations`, `/plans`, `/sub-pools`, `/service-lines`, `/products`):
validated here with the contract's models, owned and checked further by the invoicing service.
Admins create; admins and finance read everything; an org_user reads its own tree."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.gateway.audit import record
from services.gateway.auth import Principal
from services.gateway.deps import Admin, Db, Services, require
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

router = APIRouter(tags=["catalog"])
CatalogReader = Annotated[Principal, Depends(require("admin", "finance", "org_user"))]


class Page(BaseModel):
    items: list[Any]
    next_cursor: str | None


def add_resource(
    path: str, model_in: type[BaseModel], model_out: type[BaseModel], scoped: bool
) -> None:
    """POST (admin) and GET (list, cursor-paginated) for one catalog resource."""

    async def create(
        body: Any, user: Admin, services: Services, db: Db, request: Request
    ) -> JSONResponse:
        created = await services.call(
            "invoicing", "POST", f"/internal/{path}", json=body.model_dump(mode="json")
        )
        await record(db, user, request, f"{path}.create", created["id"], {})
        return JSONResponse(created, status_code=201)

    create.__annotations__["body"] = model_in

    async def list_(
        user: CatalogReader,
        services: Services,
        org_id: str | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
        cursor: str | None = None,
    ) -> Any:
        if user.role == "org_user" and scoped:
            org_id = user.org_id  # its own tree, whatever it asked for
        params = {
            "limit": limit,
            **({"cursor": cursor} if cursor else {}),
            **({"org_id": org_id} if org_id and scoped else {}),
        }
        return await services.get("invoicing", f"/internal/{path}", params)

    router.add_api_route(
        f"/{path}",
        create,
        methods=["POST"],
        status_code=201,
        response_model=model_out,
        summary=f"Create one of {path}",
    )
    router.add_api_route(
        f"/{path}",
        list_,
        methods=["GET"],
        response_model=Page,
        summary=f"List {path}" + (" (org_id includes sub-organizations)" if scoped else ""),
    )


add_resource("organizations", OrganizationIn, Organization, scoped=True)
add_resource("plans", PlanIn, Plan, scoped=False)
add_resource("sub-pools", SubPoolIn, SubPool, scoped=True)
add_resource("service-lines", ServiceLineIn, ServiceLine, scoped=True)
add_resource("products", ProductIn, Product, scoped=False)
