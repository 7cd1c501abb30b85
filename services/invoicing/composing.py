"""Composing a subscription invoice: the period's computed charges, the corrections of earlier
periods that can no longer be regenerated, credit brought forward, manual adjustments kept
across a regenerate, and the credit carried forward when the total would go below zero.

The rules are pure (`corrections`, `billing`); this module reads and writes what they need:
what was computed for each (organization, period), the corrections issued, the marks of
(organization, period) pairs a change may have touched, and carried credit."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from services.invoicing import credit_notes
from services.invoicing.billing import Draft, Line
from services.invoicing.corrections import (
    Charge,
    billable,
    brought_forward,
    carried_forward,
    charges,
    differences,
)
from services.invoicing.timeline import Period
from shared.errors import ValidationFailed
from shared.events.envelope import Event


@dataclass
class Composition:
    """One organization's invoice for a period, and what storing it records."""

    computed: Draft
    corrections: list[tuple[str, str, Line]] = field(default_factory=list)
    """(corrected period, charge key, ADJUSTMENT line)"""
    carried_in: list[tuple[int, str, Decimal]] = field(default_factory=list)
    """(carry id, from invoice, amount) brought forward"""
    manual: list[Line] = field(default_factory=list)

    def _lines(self) -> list[Line]:
        return [
            *self.computed.lines,
            *(line for _, _, line in self.corrections),
            *(brought_forward(amount, source) for _, source, amount in self.carried_in),
            *self.manual,
        ]

    @property
    def carried_out(self) -> Decimal:
        """The credit this invoice cannot take: it never goes below zero."""
        total = Draft(self._lines()).amount
        return -total if total < 0 else Decimal(0)

    def draft(self) -> Draft:
        lines = self._lines()
        if self.carried_out:
            lines.append(carried_forward(self.carried_out))
        return Draft(lines)

    def bills_anything(self) -> bool:
        return billable(self.computed) or bool(self.corrections) or bool(self.carried_in)


# --- marks: which (organization, period) a change may have touched ---------------------------


async def mark(conn: asyncpg.Connection, org_ids: set[str], from_day: date) -> None:
    """Every period from `from_day`'s month on that has had a billing run may now bill these
    organizations differently."""
    if not org_ids:
        return
    await conn.execute(
        "INSERT INTO correction_marks (org_id, period)"
        " SELECT o, r.period FROM unnest($1::text[]) AS o,"
        " (SELECT DISTINCT period FROM billing_runs WHERE period >= $2) AS r"
        " ON CONFLICT (org_id, period) DO UPDATE SET marked_at = now()",
        sorted(org_ids),
        str(Period.of(from_day)),
    )


async def _marked(conn: asyncpg.Connection, period: Period, window: int) -> dict[str, set[str]]:
    rows = await conn.fetch(
        "SELECT org_id, period FROM correction_marks WHERE period >= $1 AND period < $2",
        str(period.back(window)),
        str(period),
    )
    found: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        found[r["period"]].add(r["org_id"])
    return found


# --- what was billed for a period ------------------------------------------------------------


async def _billed(
    conn: asyncpg.Connection, orgs: list[str], period: str, excluding: list[str]
) -> dict[str, dict[str, Charge]]:
    """Per organization and charge: computed for `period`, plus the corrections issued for it
    (but those on the invoices being recomposed now)."""
    rows = await conn.fetch(
        "SELECT org_id, key, min(label) AS label, sum(amount) AS amount FROM ("
        "  SELECT org_id, key, label, amount FROM computed_charges"
        "   WHERE period = $2 AND org_id = ANY($1)"
        "  UNION ALL"
        "  SELECT org_id, key, '' AS label, amount FROM corrections"
        "   WHERE corrected_period = $2 AND org_id = ANY($1) AND NOT invoice_id = ANY($3)"
        ") b GROUP BY 1, 2",
        orgs,
        period,
        excluding,
    )
    found: dict[str, dict[str, Charge]] = defaultdict(dict)
    for r in rows:
        found[r["org_id"]][r["key"]] = Charge(r["label"], r["amount"])
    return found


async def corrections_due(
    conn: asyncpg.Connection,
    period: Period,
    window: int,
    recompute: Any,
    only: set[str] | None,
    excluding: list[str],
) -> dict[str, list[tuple[str, str, Line]]]:
    """Per organization, the corrections its invoice for `period` carries: for every earlier
    period in the window that had a billing run and whose invoice can no longer be regenerated,
    each charge that now differs from what was billed. `recompute(period, orgs)` gives the
    drafts as the catalog and usage stand now."""
    found: dict[str, list[tuple[str, str, Line]]] = defaultdict(list)
    for earlier, orgs in sorted((await _marked(conn, period, window)).items()):
        if only is not None:
            orgs &= only
        orgs -= await _regenerable(conn, earlier, orgs)
        if not orgs:
            continue
        now = await recompute(Period.parse(earlier), orgs)
        billed = await _billed(conn, sorted(orgs), earlier, excluding)
        for org in sorted(orgs):
            lines = differences(earlier, charges(now.get(org, Draft())), billed.get(org, {}))
            found[org] += [(earlier, key, line) for key, line in lines]
    return found


async def credit_lowered_periods(
    conn: asyncpg.Connection, due: dict[str, list[tuple[str, str, Line]]], by: str
) -> tuple[dict[str, list[tuple[str, str, Line]]], list[Event]]:
    """The reseller's preference for corrections that lower a period already sent: a credit
    note on that period's invoice instead of a negative line on the next one. Answers the
    corrections left for the next invoice (raising ones, and lowering ones whose invoice is not
    final or has too little left uncredited) and the credit notes' events. Each credited
    correction is recorded against the credited invoice, so it is never billed again."""
    left: dict[str, list[tuple[str, str, Line]]] = defaultdict(list)
    events: list[Event] = []
    for org, items in due.items():
        lowering: dict[str, list[tuple[str, Line]]] = defaultdict(list)
        for period, key, line in items:
            if line.amount < 0:
                lowering[period].append((key, line))
            else:
                left[org].append((period, key, line))
        for period, fixes in sorted(lowering.items()):
            issued = await _credit_period(conn, org, period, fixes, by)
            if issued is None:
                left[org] += [(period, key, line) for key, line in fixes]
            else:
                events += issued
    return left, events


async def _credit_period(
    conn: asyncpg.Connection, org: str, period: str, fixes: list[tuple[str, Line]], by: str
) -> list[Event] | None:
    row = await conn.fetchrow(
        "SELECT * FROM invoices WHERE kind = 'SUBSCRIPTION' AND org_id = $1 AND period = $2"
        " FOR UPDATE",
        org,
        period,
    )
    if row is None or not row["final"]:
        return None
    lines = [replace(line, amount=-line.amount, unit_price=-line.amount) for _, line in fixes]
    try:
        async with conn.transaction():  # a savepoint: refused, nothing of it stays
            number, events = await credit_notes.issue_lines(
                conn, row, lines, f"Correction {period}", by
            )
    except ValidationFailed:  # more than is left uncredited: the next invoice settles it
        return None
    await conn.executemany(
        "INSERT INTO corrections (org_id, corrected_period, key, amount, invoice_id,"
        " credit_note_id) VALUES ($1, $2, $3, $4, $5, $6)",
        [(org, period, key, line.amount, row["invoice_id"], number) for key, line in fixes],
    )
    return events


async def _regenerable(conn: asyncpg.Connection, period: str, orgs: set[str]) -> set[str]:
    """Organizations whose invoice for `period` is still open to a regenerate (that fixes it)."""
    rows = await conn.fetch(
        "SELECT org_id FROM invoices WHERE kind = 'SUBSCRIPTION' AND period = $1"
        " AND org_id = ANY($2) AND status = 'GENERATED' AND NOT approved",
        period,
        sorted(orgs),
    )
    return {r["org_id"] for r in rows}


# --- carried credit ---------------------------------------------------------------------------


async def open_credit(
    conn: asyncpg.Connection, orgs: set[str] | None, invoice_ids: list[str]
) -> dict[str, list[tuple[int, str, Decimal]]]:
    """Credit waiting for the next invoice (or brought forward by the invoices recomposed)."""
    rows = await conn.fetch(
        "SELECT id, org_id, from_invoice_id, amount FROM credit_carry"
        " WHERE (to_invoice_id IS NULL OR to_invoice_id = ANY($2))"
        " AND NOT from_invoice_id = ANY($2) AND ($1::text[] IS NULL OR org_id = ANY($1))"
        " ORDER BY id",
        sorted(orgs) if orgs is not None else None,
        invoice_ids,
    )
    found: dict[str, list[tuple[int, str, Decimal]]] = defaultdict(list)
    for r in rows:
        found[r["org_id"]].append((r["id"], r["from_invoice_id"], r["amount"]))
    return found


async def store(
    conn: asyncpg.Connection, period: str, stored: list[tuple[str, str, Composition]]
) -> None:
    """Record what these invoices of `period` carry, (organization, invoice id, composition)
    each, in a few statements for all of them: their computed charges (the baseline of later
    corrections), their corrections, the credit they brought forward and the credit they carry
    on (replacing what a recomposition replaces)."""
    if not stored:
        return
    orgs = [org for org, _, _ in stored]
    ids = [invoice_id for _, invoice_id, _ in stored]
    computed = [
        (org, key, charge) for org, _, c in stored for key, charge in charges(c.computed).items()
    ]
    await conn.execute(
        "DELETE FROM computed_charges WHERE period = $1 AND org_id = ANY($2)", period, orgs
    )
    await conn.execute(
        "INSERT INTO computed_charges (org_id, period, key, label, amount)"
        " SELECT o, $1, k, l, a FROM unnest($2::text[], $3::text[], $4::text[], $5::numeric[])"
        " AS t(o, k, l, a)",
        period,
        [o for o, _, _ in computed],
        [k for _, k, _ in computed],
        [c.label for _, _, c in computed],
        [c.amount for _, _, c in computed],
    )
    await conn.execute("DELETE FROM corrections WHERE invoice_id = ANY($1)", ids)
    fixes = [
        (org, p, key, line.amount, invoice_id)
        for org, invoice_id, c in stored
        for p, key, line in c.corrections
    ]
    if fixes:
        await conn.executemany(
            "INSERT INTO corrections (org_id, corrected_period, key, amount, invoice_id)"
            " VALUES ($1, $2, $3, $4, $5)",
            fixes,
        )
    await conn.execute(
        "UPDATE credit_carry SET to_invoice_id = NULL WHERE to_invoice_id = ANY($1)", ids
    )
    await conn.execute(
        "DELETE FROM credit_carry WHERE from_invoice_id = ANY($1) AND to_invoice_id IS NULL", ids
    )
    brought = [(invoice_id, carry) for _, invoice_id, c in stored for carry, _, _ in c.carried_in]
    if brought:
        await conn.executemany("UPDATE credit_carry SET to_invoice_id = $1 WHERE id = $2", brought)
    carried = [(org, invoice_id, c.carried_out) for org, invoice_id, c in stored if c.carried_out]
    if carried:
        await conn.executemany(
            "INSERT INTO credit_carry (org_id, from_invoice_id, amount) VALUES ($1, $2, $3)",
            carried,
        )


async def forget_old_marks(conn: asyncpg.Connection, period: Period, window: int) -> None:
    await conn.execute("DELETE FROM correction_marks WHERE period < $1", str(period.back(window)))
