"""Use cases that change issued invoices: approve, edit (a new revision), regenerate. Each in
one transaction with its events (outbox); the invoice row is locked while it changes."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.invoicing import composing, credit_notes, invoices, runs
from services.invoicing.billing import Draft, Line
from services.invoicing.corrections import is_system_adjustment
from services.invoicing.tax import TaxTerms
from shared.api.catalog import InvoiceEdit, LineIn
from shared.db import outbox
from shared.errors import NotFound
from shared.events.envelope import Event
from shared.events.invoicing import InvoiceApproved, InvoiceRevised, InvoiceStatusChanged
from shared.events.topics import INVOICING_EVENTS

REGENERATED = "regenerated from the current usage and catalog"


async def _locked(conn: asyncpg.Connection, invoice_id: str) -> asyncpg.Record:
    row = await conn.fetchrow("SELECT * FROM invoices WHERE invoice_id = $1 FOR UPDATE", invoice_id)
    if row is None:
        raise NotFound(f"no invoice {invoice_id}")
    return row


async def approve(conn: asyncpg.Connection, invoice_id: str, by: str) -> dict[str, Any]:
    async with conn.transaction():
        invoices.load(await _locked(conn, invoice_id)).approve()
        await conn.execute(
            "UPDATE invoices SET approved = true, approved_by = $2, approved_at = now()"
            " WHERE invoice_id = $1",
            invoice_id,
            by,
        )
        summary = await invoices.get_summary(conn, invoice_id)
        assert summary is not None
        await outbox.stage(
            conn, INVOICING_EVENTS, [InvoiceApproved(**invoices.facts_of(summary), approved_by=by)]
        )
    return await _detail(conn, invoice_id)


async def revise(
    conn: asyncpg.Connection, row: asyncpg.Record, draft: Draft, by: str, reason: str
) -> list[Event]:
    """Store `draft` as the next revision of the locked invoice `row`; clears the approval."""
    invoice = invoices.load(row)
    invoice.revise(draft.amount)
    revision, balance, status = invoice.revision, invoice.balance, invoice.status
    await invoices.store_lines(conn, row["invoice_id"], revision, draft.lines)
    await conn.execute(
        "UPDATE invoices SET regular_charges = $2, additional_charges = $3, amount = $4,"
        " balance = $5, status = $6, revision = $7, approved = false, approved_by = NULL,"
        " approved_at = NULL, service_line_names = $8, plan_names = $9, tax = $10,"
        " tax_rate = $11, tax_exempt_reason = $12 WHERE invoice_id = $1",
        row["invoice_id"],
        draft.regular_charges,
        draft.additional_charges,
        draft.amount,
        balance,
        status,
        revision,
        *invoices.searchable_names(draft.lines),
        draft.tax,
        draft.terms.applied_rate,
        draft.terms.exempt_reason,
    )
    await conn.execute(
        "INSERT INTO invoice_revisions (invoice_id, revision, by, reason, amount_before,"
        " amount_after) VALUES ($1, $2, $3, $4, $5, $6)",
        row["invoice_id"],
        revision,
        by,
        reason,
        row["amount"],
        draft.amount,
    )
    summary = await invoices.get_summary(conn, row["invoice_id"])
    assert summary is not None
    events: list[Event] = [InvoiceRevised(**invoices.facts_of(summary), reason=reason)]
    if status != row["status"]:
        events.append(
            InvoiceStatusChanged(**invoices.facts_of(summary), previous_status=row["status"])
        )
    return events


async def edit(
    conn: asyncpg.Connection, invoice_id: str, body: InvoiceEdit, by: str
) -> dict[str, Any]:
    """A new revision of an invoice not sent yet; for a sent one (its document is final), a
    credit note of what the edit lowers."""
    async with conn.transaction():
        row = await _locked(conn, invoice_id)
        lines = [_line(line) for line in body.lines]
        if row["final"]:
            events = await credit_notes.issue(conn, row, lines, body.reason, by)
        else:
            invoices.load(row).check_editable()
            # An edit keeps the rate the invoice was generated with.
            draft = Draft(lines, TaxTerms.of(row))
            events = await revise(conn, row, draft, by, body.reason)
        await outbox.stage(conn, INVOICING_EVENTS, events)
    return await _detail(conn, invoice_id)


def _line(line: LineIn) -> Line:
    fields = line.model_dump()
    fields["unit_price"] = line.unit_price if line.unit_price is not None else line.amount
    return Line(**fields)


async def regenerate(
    conn: asyncpg.Connection,
    period_text: str,
    org_id: str | None,
    by: str,
    window: int = 3,
    credit_notes_for_corrections: bool = False,
) -> dict[str, Any]:
    """Recompute the period's subscription invoices that are GENERATED and unapproved (with
    their corrections and carried credit; manual adjustments stay); an invoice whose lines
    and tax come out the same is left as it is.

    Such an invoice takes the organization's tax rate (or exemption) as it is now, like the
    catalog and usage it is recomputed from: nobody has committed to it yet. Approved, sent
    and paid invoices are never regenerated, so their rate never changes."""
    period = runs.parse_period(period_text)
    regenerated: list[str] = []
    skipped: list[dict[str, str]] = []
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT * FROM invoices WHERE kind = 'SUBSCRIPTION' AND period = $1"
            " AND ($2::text IS NULL OR org_id = $2) ORDER BY invoice_id FOR UPDATE",
            str(period),
            org_id,
        )
        open_rows = []
        for row in rows:
            reason = invoices.load(row).why_not_regenerated()
            if reason:
                skipped.append({"invoice_id": row["invoice_id"], "reason": reason})
            else:
                open_rows.append(row)
        orgs = {r["org_id"] for r in open_rows}
        ids = [r["invoice_id"] for r in open_rows]
        drafts = await runs.drafts_for(conn, period, org_id, orgs=orgs)
        due = await composing.corrections_due(
            conn, period, window, runs.recompute_with(conn), only=orgs, excluding=ids
        )
        events: list[Event] = []
        if credit_notes_for_corrections:
            due, events = await composing.credit_lowered_periods(conn, due, by)
        credit = await composing.open_credit(conn, orgs, ids)
        terms = await _tax_terms(conn, orgs)
        stored: list[tuple[str, str, composing.Composition]] = []
        for row in open_rows:
            org = row["org_id"]
            current = await invoices.current_lines(conn, row["invoice_id"], row["revision"])
            composition = composing.Composition(
                drafts.get(org, Draft()),
                due.get(org, []),
                credit.get(org, []),
                [x for x in current if x.type == "ADJUSTMENT" and not is_system_adjustment(x)],
            )
            draft = composition.draft().taxed(terms[org])
            if draft.amount < row["payments"]:
                reason = f"recomputed amount {draft.amount} is below the payments"
                skipped.append({"invoice_id": row["invoice_id"], "reason": reason})
                continue
            same = draft.terms == TaxTerms.of(row) and await invoices.same_lines(
                conn, row["invoice_id"], row["revision"], draft.lines
            )
            if not same:
                events += await revise(conn, row, draft, by, REGENERATED)
            stored.append((org, row["invoice_id"], composition))
            regenerated.append(row["invoice_id"])
        await composing.store(conn, str(period), stored)
        await outbox.stage(conn, INVOICING_EVENTS, events)
    return {"regenerated": regenerated, "skipped": skipped}


async def _tax_terms(conn: asyncpg.Connection, orgs: set[str]) -> dict[str, TaxTerms]:
    rows = await conn.fetch(
        "SELECT id, tax_rate, tax_exempt_reason FROM organizations WHERE id = ANY($1)",
        sorted(orgs),
    )
    return {r["id"]: TaxTerms.of(r) for r in rows}


async def _detail(conn: asyncpg.Connection, invoice_id: str) -> dict[str, Any]:
    detail = await invoices.get_detail(conn, invoice_id)
    assert detail is not None
    return detail
