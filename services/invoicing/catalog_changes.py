"""Catalog changes over time (SQL; the rules of the assignment history are in `timeline`):
organizations patched, service lines changed from a day on, ended or reopened, renamed, and
price versions of plans and sub-pools. Each use case runs in one transaction and returns the
object before and after, for the audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from services.invoicing import catalog, composing
from services.invoicing.timeline import Held, HistoryError, change, end
from shared.api.catalog import (
    RATE_AND_EXEMPTION,
    Organization,
    OrganizationPatch,
    Plan,
    PlanVersionIn,
    ServiceLineChange,
    ServiceLinePatch,
    SubPool,
    SubPoolVersionIn,
)
from shared.errors import Conflict, NotFound, ValidationFailed

PLAN_TERMS = (
    "monthly_price",
    "allowance_gb",
    "overage_price_per_gb",
    "overage_block_gb",
    "overage_block_price",
)
POOL_TERMS = ("monthly_price", "allowance_gb", "overage_price_per_gb")


# --- organizations --------------------------------------------------------------------------


async def get_organization(conn: asyncpg.Connection, org_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT {catalog.COLUMNS['organizations']} FROM organizations WHERE id = $1", org_id
    )
    if row is None:
        raise NotFound(f"no organization {org_id}")
    return Organization.model_validate(catalog.as_api(row)).model_dump(mode="json")


async def patch_organization(
    conn: asyncpg.Connection, org_id: str, body: OrganizationPatch
) -> dict[str, Any]:
    async with conn.transaction():
        before = await get_organization(conn, org_id)
        values = body.model_dump(include=body.model_fields_set)
        _rate_or_exemption(before, values)
        parent = values.get("parent_id")
        if parent is not None:
            await catalog.require(conn, "organizations", parent, "parent_id")
            if parent in await catalog.org_tree(conn, org_id):
                raise ValidationFailed(
                    "an organization cannot sit below itself or its own sub-organizations",
                    fields={"parent_id": f"{parent} is {org_id} or below it"},
                )
        sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(values, start=2))
        await conn.execute(
            f"UPDATE organizations SET {sets} WHERE id = $1",
            org_id,
            *catalog.as_stored(values).values(),
        )
        return {"before": before, "after": await get_organization(conn, org_id)}


def _rate_or_exemption(before: dict[str, Any], changes: dict[str, Any]) -> None:
    """The patch checked both fields it was given; a rate given to an exempt organization (or
    an exemption to one with a rate) is caught here, against what is stored."""
    after = {**before, **changes}
    if after["tax_rate"] is not None and after["tax_exempt_reason"] is not None:
        field = "tax_rate" if "tax_rate" in changes else "tax_exempt_reason"
        raise ValidationFailed(RATE_AND_EXEMPTION, fields={field: RATE_AND_EXEMPTION})


# --- service lines --------------------------------------------------------------------------


async def _history(conn: asyncpg.Connection, number: str, lock: bool = False) -> list[Any]:
    rows = await conn.fetch(
        "SELECT id, service_line_number, name, org_id, plan_id, sub_pool_id, active_from,"
        " active_to FROM service_lines WHERE service_line_number = $1 ORDER BY active_from"
        + (" FOR UPDATE" if lock else ""),
        number,
    )
    if not rows:
        raise NotFound(f"no service line {number}")
    return list(rows)


def _detail(rows: list[Any]) -> dict[str, Any]:
    latest = rows[-1]
    return {
        "service_line_number": latest["service_line_number"],
        "name": latest["name"],
        "org_id": latest["org_id"],
        "plan_id": latest["plan_id"],
        "sub_pool_id": latest["sub_pool_id"],
        "active_from": latest["active_from"].isoformat(),
        "active_to": latest["active_to"].isoformat() if latest["active_to"] else None,
        "assignments": [
            {
                "org_id": r["org_id"],
                "plan_id": r["plan_id"],
                "sub_pool_id": r["sub_pool_id"],
                "active_from": r["active_from"].isoformat(),
                "active_to": r["active_to"].isoformat() if r["active_to"] else None,
            }
            for r in rows
        ],
    }


async def get_service_line(conn: asyncpg.Connection, number: str) -> dict[str, Any]:
    return _detail(await _history(conn, number))


def _held(r: Any) -> Held:
    return Held(
        r["id"], r["org_id"], r["plan_id"], r["sub_pool_id"], r["active_from"], r["active_to"]
    )


async def change_service_line(
    conn: asyncpg.Connection, number: str, body: ServiceLineChange
) -> dict[str, Any]:
    async with conn.transaction():
        rows = await _history(conn, number, lock=True)
        before = _detail(rows)
        current = next((r for r in rows if _held(r).contains(body.effective_on)), rows[-1])
        org_id = body.org_id or current["org_id"]
        plan_id, pool_id = body.plan_id, body.sub_pool_id
        if plan_id is None and pool_id is None:  # an organization move keeps the plan or pool
            plan_id, pool_id = current["plan_id"], current["sub_pool_id"]
        await _check_terms(conn, org_id, plan_id, pool_id)
        try:
            wanted = change(
                [_held(r) for r in rows],
                body.effective_on,
                (org_id, plan_id, pool_id),
                catalog.new_id("service_lines"),
            )
        except HistoryError as exc:
            raise ValidationFailed(str(exc), fields={exc.field: str(exc)}) from None
        await _store_history(conn, rows, wanted)
        await _mark_line(conn, rows, wanted, body.effective_on)
        return {"before": before, "after": _detail(await _history(conn, number))}


async def _mark_line(
    conn: asyncpg.Connection, rows: list[Any], wanted: list[Held], from_day: date
) -> None:
    """Every organization the line billed or bills (its own and its pools') may owe a
    correction from `from_day`'s month on."""
    held = [_held(r) for r in rows] + wanted
    orgs = {h.org_id for h in held}
    pools = sorted({h.sub_pool_id for h in held if h.sub_pool_id})
    if pools:
        orgs |= {
            r["org_id"]
            for r in await conn.fetch("SELECT org_id FROM sub_pools WHERE id = ANY($1)", pools)
        }
    await composing.mark(conn, orgs, from_day)


async def patch_service_line(
    conn: asyncpg.Connection, number: str, body: ServiceLinePatch
) -> dict[str, Any]:
    async with conn.transaction():
        rows = await _history(conn, number, lock=True)
        before = _detail(rows)
        if "active_to" in body.model_fields_set:
            try:
                wanted = end([_held(r) for r in rows], body.active_to)
            except HistoryError as exc:
                raise ValidationFailed(str(exc), fields={exc.field: str(exc)}) from None
            await _store_history(conn, rows, wanted)
            ends = [d for d in (rows[-1]["active_to"], body.active_to) if d is not None]
            if ends:  # the days between the old and the new end changed
                await _mark_line(conn, rows, wanted, min(ends) + timedelta(days=1))
        if body.name is not None:
            await conn.execute(
                "UPDATE service_lines SET name = $2 WHERE service_line_number = $1",
                number,
                body.name,
            )
        return {"before": before, "after": _detail(await _history(conn, number))}


async def _check_terms(
    conn: asyncpg.Connection, org_id: str, plan_id: str | None, pool_id: str | None
) -> None:
    await catalog.require(conn, "organizations", org_id, "org_id")
    if plan_id is not None:
        await catalog.require(conn, "plans", plan_id, "plan_id")
    if pool_id is not None:
        pool = await catalog.require(conn, "sub_pools", pool_id, "sub_pool_id")
        if org_id not in await catalog.org_tree(conn, pool["org_id"]):
            raise ValidationFailed(
                "a service line joins a sub-pool of its own organization or of one above it",
                fields={"sub_pool_id": f"belongs to organization {pool['org_id']}"},
            )


async def _store_history(conn: asyncpg.Connection, rows: list[Any], wanted: list[Held]) -> None:
    """Write the new history: removed rows first, then changed ones, then new ones, so the
    no-overlap constraint never sees two rows on one day."""
    name, number = rows[-1]["name"], rows[-1]["service_line_number"]
    old = {r["id"]: _held(r) for r in rows}
    new = {h.id: h for h in wanted}
    gone = [i for i in old if i not in new]
    if gone:
        await conn.execute("DELETE FROM service_lines WHERE id = ANY($1)", gone)
    try:
        for h in wanted:
            if h.id in old and old[h.id] != h:
                await conn.execute(
                    "UPDATE service_lines SET org_id = $2, plan_id = $3, sub_pool_id = $4,"
                    " active_from = $5, active_to = $6 WHERE id = $1",
                    h.id,
                    h.org_id,
                    h.plan_id,
                    h.sub_pool_id,
                    h.active_from,
                    h.active_to,
                )
        for h in wanted:
            if h.id not in old:
                await conn.execute(
                    "INSERT INTO service_lines (id, service_line_number, name, org_id, plan_id,"
                    " sub_pool_id, active_from, active_to) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    h.id,
                    number,
                    name,
                    h.org_id,
                    h.plan_id,
                    h.sub_pool_id,
                    h.active_from,
                    h.active_to,
                )
    except asyncpg.ExclusionViolationError:
        raise Conflict(
            f"service line {number} would be active twice on some day",
            fields={"effective_on": "overlaps another assignment"},
        ) from None


# --- price versions -------------------------------------------------------------------------


def _first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


@dataclass(frozen=True)
class Priced:
    """A priced catalog object with versions: its table, versions table, key, terms, models."""

    what: str
    table: str
    versions: str
    key: str
    terms: tuple[str, ...]
    model: type[BaseModel]
    version_model: type[BaseModel]


PLANS = Priced("plan", "plans", "plan_versions", "plan_id", PLAN_TERMS, Plan, PlanVersionIn)
POOLS = Priced(
    "sub-pool",
    "sub_pools",
    "sub_pool_versions",
    "sub_pool_id",
    POOL_TERMS,
    SubPool,
    SubPoolVersionIn,
)


def _version_api(row: Any, model: type[BaseModel]) -> dict[str, Any]:
    values = {
        k: v for k, v in catalog.as_api(row).items() if k in model.model_fields and v is not None
    }
    values["effective_from"] = row["effective_from"].isoformat()[:7]
    return model.model_validate(values).model_dump(mode="json", exclude_none=True)


async def priced_detail(conn: asyncpg.Connection, kind: Priced, id_: str) -> dict[str, Any]:
    """The object with its price versions, oldest first."""
    row = await conn.fetchrow(
        f"SELECT {catalog.COLUMNS[kind.table]} FROM {kind.table} WHERE id = $1", id_
    )
    if row is None:
        raise NotFound(f"no {kind.what} {id_}")
    versions = await conn.fetch(
        f"SELECT * FROM {kind.versions} WHERE {kind.key} = $1 ORDER BY effective_from", id_
    )
    found = kind.model.model_validate(catalog.as_api(row)).model_dump(mode="json")
    return {**found, "versions": [_version_api(v, kind.version_model) for v in versions]}


async def _terms_in_force(
    conn: asyncpg.Connection, kind: Priced, id_: str, on: date
) -> dict[str, Any]:
    cols = ", ".join(kind.terms)
    row = await conn.fetchrow(
        f"SELECT {cols} FROM {kind.versions} WHERE {kind.key} = $1 AND effective_from <= $2"
        " ORDER BY effective_from DESC LIMIT 1",
        id_,
        on,
    ) or await conn.fetchrow(f"SELECT {cols} FROM {kind.table} WHERE id = $1", id_)
    return dict(row) if row else {}


async def _mark_users(conn: asyncpg.Connection, column: str, id_: str, start: date) -> None:
    """Organizations billed on this plan or pool from `start` on may owe corrections."""
    rows = await conn.fetch(
        f"SELECT DISTINCT coalesce(sp.org_id, sl.org_id) AS org_id FROM service_lines sl"
        f" LEFT JOIN sub_pools sp ON sp.id = sl.sub_pool_id"
        f" WHERE sl.{column} = $1 AND (sl.active_to IS NULL OR sl.active_to >= $2)",
        id_,
        start,
    )
    await composing.mark(conn, {r["org_id"] for r in rows}, start)


async def add_version(
    conn: asyncpg.Connection, kind: Priced, id_: str, body: PlanVersionIn | SubPoolVersionIn
) -> dict[str, Any]:
    """A price version for periods from `effective_from` on: the terms in force then, with the
    fields given changed (one overage form replaces the other); the same month again replaces
    that version."""
    async with conn.transaction():
        before = await priced_detail(conn, kind, id_)
        start = _first_day(body.effective_from)
        terms = await _terms_in_force(conn, kind, id_, start)
        given = body.model_dump(include=body.model_fields_set - {"effective_from"})
        if "overage_price_per_gb" in given and kind is PLANS:
            terms.update(overage_block_gb=None, overage_block_price=None)
        if "overage_block_gb" in given:
            terms.update(overage_price_per_gb=None)
        terms.update(given)
        await _mark_users(conn, kind.key, id_, start)
        columns = ", ".join(kind.terms)
        values = ", ".join(f"${i}" for i in range(3, 3 + len(kind.terms)))
        updates = ", ".join(f"{c} = excluded.{c}" for c in kind.terms)
        await conn.execute(
            f"INSERT INTO {kind.versions} ({kind.key}, effective_from, {columns})"
            f" VALUES ($1, $2, {values}) ON CONFLICT ({kind.key}, effective_from)"
            f" DO UPDATE SET {updates}, created_at = now()",
            id_,
            start,
            *(terms[c] for c in kind.terms),
        )
        return {"before": before, "after": await priced_detail(conn, kind, id_)}
