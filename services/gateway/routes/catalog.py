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
from services.gateway.deps import Admin, Db, OrgScope, PathId, Services, require
from services.gateway.routes import API_PREFIX
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
    ServiceLineDetail,
    ServiceLineIn,
    ServiceLinePatch,
    SubPool,
    SubPoolIn,
    SubPoolVersionIn,
)

router = APIRouter(prefix=API_PREFIX, tags=["catalog"])
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
        scope: OrgScope,
        services: Services,
        org_id: str | None = None,
        limit: int = Query(default=100, ge=1, le=1000),
        cursor: str | None = None,
    ) -> Any:
        org_id = scope or org_id  # an org user: its own tree, whatever it asked for
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


# --- catalog changes over time (each audited with the object before and after) ---------------


async def _changed(
    services: Any, db: Any, user: Principal, request: Request, method: str, path: str, body: Any
) -> Any:
    """Send a change to the invoicing service; audit it with what it changed from and to."""
    result = await services.call(
        "invoicing",
        method,
        f"/internal{path}",
        json=body.model_dump(mode="json", exclude_unset=True),
    )
    action = f"{path.split('/')[1]}.{'change' if path.endswith('/changes') else 'update'}"
    subject = path.split("/")[2]
    await record(
        db, user, request, action, subject, {"before": result["before"], "after": result["after"]}
    )
    return result["after"]


@router.get("/organizations/{org_id}", response_model=Organization, summary="One organization")
async def get_organization(org_id: PathId, user: CatalogReader, services: Services) -> Any:
    return await services.get("invoicing", f"/internal/organizations/{org_id}")


@router.patch(
    "/organizations/{org_id}",
    response_model=Organization,
    summary="Change an organization (any field given at creation); later invoices use it",
)
async def patch_organization(
    org_id: PathId,
    body: OrganizationPatch,
    user: Admin,
    services: Services,
    db: Db,
    request: Request,
) -> Any:
    return await _changed(services, db, user, request, "PATCH", f"/organizations/{org_id}", body)


@router.get(
    "/service-lines/{service_line_number}",
    response_model=ServiceLineDetail,
    summary="A service line with its assignment history (oldest first)",
)
async def get_service_line(
    service_line_number: PathId, user: CatalogReader, services: Services
) -> Any:
    return await services.get("invoicing", f"/internal/service-lines/{service_line_number}")


@router.post(
    "/service-lines/{service_line_number}/changes",
    status_code=201,
    response_model=ServiceLineDetail,
    summary="From a day on (past days allowed), bill the line on a plan, in a sub-pool or for"
    " another organization",
)
async def change_service_line(
    service_line_number: PathId,
    body: ServiceLineChange,
    user: Admin,
    services: Services,
    db: Db,
    request: Request,
) -> Any:
    path = f"/service-lines/{service_line_number}/changes"
    return await _changed(services, db, user, request, "POST", path, body)


@router.patch(
    "/service-lines/{service_line_number}",
    response_model=ServiceLineDetail,
    summary="Rename a service line, end it on a day (past days allowed) or reopen it (null)",
)
async def patch_service_line(
    service_line_number: PathId,
    body: ServiceLinePatch,
    user: Admin,
    services: Services,
    db: Db,
    request: Request,
) -> Any:
    path = f"/service-lines/{service_line_number}"
    return await _changed(services, db, user, request, "PATCH", path, body)


@router.get("/plans/{plan_id}", summary="A plan with its price versions")
async def get_plan(plan_id: PathId, user: CatalogReader, services: Services) -> Any:
    return await services.get("invoicing", f"/internal/plans/{plan_id}")


@router.patch("/plans/{plan_id}", summary="A new price version of a plan from a period on")
async def version_plan(
    plan_id: PathId, body: PlanVersionIn, user: Admin, services: Services, db: Db, request: Request
) -> Any:
    return await _changed(services, db, user, request, "PATCH", f"/plans/{plan_id}", body)


@router.get("/sub-pools/{pool_id}", summary="A sub-pool with its price versions")
async def get_sub_pool(pool_id: PathId, user: CatalogReader, services: Services) -> Any:
    return await services.get("invoicing", f"/internal/sub-pools/{pool_id}")


@router.patch("/sub-pools/{pool_id}", summary="A new price version of a sub-pool from a period on")
async def version_sub_pool(
    pool_id: PathId,
    body: SubPoolVersionIn,
    user: Admin,
    services: Services,
    db: Db,
    request: Request,
) -> Any:
    return await _changed(services, db, user, request, "PATCH", f"/sub-pools/{pool_id}", body)
