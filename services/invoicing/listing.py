"""The invoice list: a page in the chosen order (keyset cursor), with the totals and status
counts of the whole filtered set. Totals come from the maintained day totals whenever the
filters allow it (kind, status and issue dates over every organization), otherwise from the
invoices themselves (one organization tree is small; other filters read what they select)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from services.invoicing.invoices import SUMMARY, as_summary
from shared.errors import ValidationFailed

FILTERS = {
    "kind": "i.kind = ${}",
    "status": "i.status = ${}",
    "invoice_id": "i.invoice_id = ${}",
    "period": "i.period = ${}",
    "min_amount": "i.amount >= ${}",
    "max_amount": "i.amount <= ${}",
    "min_balance": "i.balance >= ${}",
    "max_balance": "i.balance <= ${}",
    "min_regular_charges": "i.regular_charges >= ${}",
    "max_regular_charges": "i.regular_charges <= ${}",
    "payable_from": "i.payable_on >= ${}",
    "payable_to": "i.payable_on <= ${}",
    "issued_from": "i.issued_on >= ${}",
    "issued_to": "i.issued_on <= ${}",
    # Names of the current lines kept on the invoice (trigram-indexed); `%` and `_` typed in
    # a filter are matched as themselves.
    "service_line_name": "i.service_line_names ILIKE '%' || like_text(${}) || '%'",
    "plan_name": "i.plan_names ILIKE '%' || like_text(${}) || '%'",
}
# The orders offered: column and the type its cursor value is read back as.
SORTS = {
    "invoice_id": ("i.invoice_id", "text"),
    "issued_on": ("i.issued_on", "date"),
    "payable_on": ("i.payable_on", "date"),
    "amount": ("i.amount", "numeric"),
    "balance": ("i.balance", "numeric"),
    "regular_charges": ("i.regular_charges", "numeric"),
    "org_name": ("o.name", "text"),
    "status": ("i.status", "text"),
}
SUMMARY_FILTERS = {"kind", "status", "issued_from", "issued_to"}
COUNTED = {
    "GENERATED": "generated",
    "SENT_FOR_PAYMENT": "sent",
    "PARTIAL_PAID": "partial",
    "PAYMENT_DONE": "paid",
}


def parse_sort(sort: str | None) -> tuple[str, bool]:
    """`amount` ascending, `-amount` descending; the invoice id breaks ties."""
    name = (sort or "invoice_id").strip()
    descending = name.startswith("-")
    name = name.lstrip("-")
    if name not in SORTS:
        raise ValidationFailed(
            f"cannot sort by {name!r}",
            fields={"sort": "one of " + ", ".join(sorted(SORTS)) + " (prefix - for descending)"},
        )
    return name, descending


def encode_cursor(sort: str, value: Any, invoice_id: str) -> str:
    raw = json.dumps([sort, None if value is None else str(value), invoice_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


READ_BACK: dict[str, Callable[[Any], Any]] = {
    "text": str,
    "date": date.fromisoformat,
    "numeric": Decimal,
}


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """The sort value and invoice id a page ended on, read back as the column's type."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        made_for, value, invoice_id = json.loads(base64.urlsafe_b64decode(padded))
        typed = READ_BACK[SORTS[sort][1]](value)
    except (ValueError, TypeError, ArithmeticError, KeyError):
        raise ValidationFailed("not a cursor of this list", fields={"cursor": "invalid"}) from None
    if made_for != sort or not isinstance(invoice_id, str):
        raise ValidationFailed(
            "the cursor belongs to another order", fields={"cursor": "start again without it"}
        )
    return typed, invoice_id


def month_floor(day: date) -> str:
    return f"INV-{day:%Y%m}-"


def number_range(filters: dict[str, Any]) -> list[str]:
    """Invoice numbers carry their month of issue (INV-YYYYMM-…): an issue-date range is also
    a range of numbers, which lets the primary key find a month's invoices at once."""
    where = []
    if filters.get("issued_from"):
        where.append(f"i.invoice_id >= '{month_floor(filters['issued_from'])}'")
    if filters.get("issued_to"):
        following = (filters["issued_to"].replace(day=1) + timedelta(days=32)).replace(day=1)
        where.append(f"i.invoice_id < '{month_floor(following)}'")
    return where


def conditions(filters: dict[str, Any], org_ids: list[str] | None) -> tuple[list[str], list[Any]]:
    where, args = [], []
    for name, value in filters.items():
        if value is not None:
            args.append(value)
            where.append(FILTERS[name].format(len(args)))
    if org_ids is not None:
        args.append(org_ids)
        where.append(f"i.org_id = ANY(${len(args)})")
    return where + number_range(filters), args


NO_INDEX = {"text": "{} || ''", "date": "{} + 0", "numeric": "{} + 0"}


DENSE = 20_000
"""A filtered set at least this large is dense enough to walk an index in the page's order."""


def ordering(column: str, cast: str, matching: int) -> tuple[str, str]:
    """The ORDER BY terms. A large filtered set: walk the index in that order, the page's rows
    come at once. A small one (a narrow filter, one organization tree): its rows can lie far
    apart in any index order, so the same order as an expression, and the planner selects
    first and sorts the few that match."""
    if matching >= DENSE:
        return column, "i.invoice_id"
    return NO_INDEX[cast].format(column), NO_INDEX["text"].format("i.invoice_id")


def implied(filters: dict[str, Any]) -> list[tuple[str, Any]]:
    """Bounds that follow from the filters (0 <= balance <= amount), so that an index walk in
    balance or amount order starts where matches can be: (condition with `${}`, value)."""
    out = []
    if filters.get("max_amount") is not None:
        out.append(("i.balance <= ${}", filters["max_amount"]))
    if filters.get("min_balance") is not None:
        out.append(("i.amount >= ${}", filters["min_balance"]))
    return out


async def search(
    conn: asyncpg.Connection,
    filters: dict[str, Any],
    org_ids: list[str] | None,
    limit: int,
    cursor: str | None,
    sort: str | None = None,
) -> dict[str, Any]:
    """`{items, totals, counts, next_cursor}`: totals and counts over the whole filtered set."""
    name, descending = parse_sort(sort)
    column, cast = SORTS[name]
    where, args = conditions(filters, org_ids)
    totals, counts = await aggregate(conn, filters, org_ids, where, args)
    page_where, page_args = list(where), list(args)
    for condition, value in implied(filters):
        page_args.append(value)
        page_where.append(condition.format(len(page_args)))
    if cursor:
        value, after_id = decode_cursor(cursor, name)
        page_args += [value, after_id]
        op = "<" if descending else ">"
        a, b = len(page_args) - 1, len(page_args)
        page_where.append(f"({column}, i.invoice_id) {op} (${a}::{cast}, ${b})")
    direction = "DESC" if descending else "ASC"
    page_args.append(limit + 1)
    order, tie = ordering(column, cast, sum(counts.values()))
    rows = await conn.fetch(
        f"SELECT {SUMMARY} FROM invoices i JOIN organizations o ON o.id = i.org_id"
        f" WHERE {' AND '.join(page_where) or 'TRUE'}"
        f" ORDER BY {order} {direction}, {tie} {direction} LIMIT ${len(page_args)}",
        *page_args,
    )
    items = [as_summary(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        key = "org_name" if name == "org_name" else name
        next_cursor = encode_cursor(name, last[key], last["invoice_id"])
    return {"items": items, "totals": totals, "counts": counts, "next_cursor": next_cursor}


async def aggregate(
    conn: asyncpg.Connection,
    filters: dict[str, Any],
    org_ids: list[str] | None,
    where: list[str],
    args: list[Any],
) -> tuple[dict[str, str], dict[str, int]]:
    used = {k for k, v in filters.items() if v is not None}
    if org_ids is None and used <= SUMMARY_FILTERS:
        rows = await from_day_totals(conn, filters)
    else:
        rows = await conn.fetch(
            "SELECT status, count(*) AS invoices, coalesce(sum(amount), 0) AS invoiced,"
            " coalesce(sum(balance), 0) AS balance FROM invoices i"
            f" WHERE {' AND '.join(where) or 'TRUE'} GROUP BY status",
            *args,
        )
    invoiced = sum((r["invoiced"] for r in rows), start=0)
    balance = sum((r["balance"] for r in rows), start=0)
    counts = dict.fromkeys(COUNTED.values(), 0)
    for r in rows:
        counts[COUNTED[r["status"]]] += int(r["invoices"])
    return {"invoiced": f"{invoiced:.2f}", "balance": f"{balance:.2f}"}, counts


async def from_day_totals(conn: asyncpg.Connection, filters: dict[str, Any]) -> list[Any]:
    where, args = [], []
    for name, sql in (
        ("kind", "kind = ${}"),
        ("status", "status = ${}"),
        ("issued_from", "issued_on >= ${}"),
        ("issued_to", "issued_on <= ${}"),
    ):
        if filters.get(name) is not None:
            args.append(filters[name])
            where.append(sql.format(len(args)))
    condition = " AND ".join(where) or "TRUE"
    rows: list[Any] = await conn.fetch(
        "SELECT status, sum(invoices) AS invoices, sum(invoiced) AS invoiced,"
        " sum(balance) AS balance FROM ("
        f" SELECT status, invoices, invoiced, balance FROM invoice_day_totals WHERE {condition}"
        " UNION ALL"
        f" SELECT status, invoices, invoiced, balance FROM invoice_day_deltas WHERE {condition}"
        ") AS t GROUP BY status",
        *args,
    )
    return rows


async def compact(conn: asyncpg.Connection) -> int:
    """Fold the pending deltas into the day totals; answers how many were folded."""
    folded: int = await conn.fetchval("SELECT compact_invoice_totals()")
    return folded
