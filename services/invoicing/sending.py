"""Requests to e-mail an invoice: checked here (approved, recipients among the organization's
contacts), then handed to the notifier through the outbox with the invoice as it stands, so
the e-mail carries exactly what was approved. Also the daily reminders of overdue invoices."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from typing import Any, Literal

import asyncpg

from services.invoicing import invoices
from shared.db import outbox
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.events.notifier import InvoiceSendRequested, Purpose
from shared.events.topics import NOTIFIER_COMMANDS

To = Literal["customer", "finance"]


def recipients_for(to: To, chosen: list[str], org: asyncpg.Record) -> list[str]:
    """Customer mail goes to the chosen customer contacts (all of them if none is chosen);
    finance mail to the organization's finance contacts."""
    contacts = list(org["customer_emails"] if to == "customer" else org["finance_emails"])
    if not contacts:
        raise ValidationFailed(
            f"organization {org['name']} has no {to} e-mail contacts",
            fields={"to": f"the organization has no {to}_emails"},
        )
    if to == "finance" or not chosen:
        return contacts
    known = {c.lower() for c in contacts}
    strangers = [e for e in chosen if e.lower() not in known]
    if strangers:
        raise ValidationFailed(
            "the addresses must be among the organization's customer contacts: "
            + ", ".join(strangers),
            fields={"emails": "not a customer contact: " + ", ".join(strangers)},
        )
    return list(dict.fromkeys(chosen))


def request_id_for(invoice_id: str, key: str | None) -> str:
    """A client's Idempotency-Key names its request: sent again, it is the same request."""
    if not key:
        return f"snd_{uuid.uuid4().hex}"
    return "snd_" + hashlib.sha256(f"{invoice_id}\0{key}".encode()).hexdigest()[:32]


async def request_send(
    conn: asyncpg.Connection,
    invoice_id: str,
    to: To,
    chosen: list[str],
    by: str,
    purpose: Purpose = "invoice",
    key: str | None = None,
) -> dict[str, Any]:
    request_id = request_id_for(invoice_id, key)
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT * FROM invoices WHERE invoice_id = $1 FOR UPDATE", invoice_id
        )
        if row is None:
            raise NotFound(f"no invoice {invoice_id}")
        if purpose == "invoice":
            invoices.load(row).check_sendable()
            # From the request on the document is out of our hands: it is final.
            await conn.execute(
                "UPDATE invoices SET final = true WHERE invoice_id = $1 AND NOT final", invoice_id
            )
            await invoices.freeze_buyer(conn, invoice_id, row["org_id"])
        org = await conn.fetchrow(
            "SELECT name, customer_emails, finance_emails FROM organizations WHERE id = $1",
            row["org_id"],
        )
        recipients = recipients_for(to, chosen, org)
        earlier = await conn.fetchrow(
            "SELECT to_whom, recipients, state FROM send_requests WHERE request_id = $1",
            request_id,
        )
        if earlier is not None:
            if earlier["to_whom"] != to or list(earlier["recipients"]) != recipients:
                raise Conflict(
                    "this Idempotency-Key was used for another send of this invoice",
                    fields={"Idempotency-Key": "use a new key for a new send"},
                )
            return _result(request_id, invoice_id, purpose, to, recipients, earlier["state"])
        document = await invoices.get_document(conn, invoice_id)
        assert document is not None
        request = InvoiceSendRequested(
            request_id=request_id,
            invoice_id=invoice_id,
            purpose=purpose,
            to=to,
            recipients=recipients,
            requested_by=by,
            document=document,
        )
        await conn.execute(
            "INSERT INTO send_requests (request_id, invoice_id, purpose, to_whom, recipients,"
            " requested_by) VALUES ($1, $2, $3, $4, $5, $6)",
            request.request_id,
            invoice_id,
            purpose,
            to,
            recipients,
            by,
        )
        await outbox.stage(conn, NOTIFIER_COMMANDS, [request])
    return _result(request_id, invoice_id, purpose, to, recipients, "REQUESTED")


def _result(
    request_id: str, invoice_id: str, purpose: str, to: str, recipients: list[str], state: str
) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "invoice_id": invoice_id,
        "purpose": purpose,
        "to": to,
        "recipients": recipients,
        "state": state,
    }


async def send_reminders(
    conn: asyncpg.Connection, today: date, interval_days: int, limit: int = 1000
) -> dict[str, Any]:
    """Remind the customer contacts of every invoice past its payable date with a balance,
    unless reminded within `interval_days`. Replicas may all run it: rows are taken with
    SKIP LOCKED and stamped in the same transaction as the request."""
    since = today - timedelta(days=interval_days)
    rows = await conn.fetch(
        "SELECT i.invoice_id FROM invoices i JOIN organizations o ON o.id = i.org_id"
        " WHERE i.balance > 0 AND i.payable_on < $1 AND i.sent"
        "   AND (i.last_reminded_at IS NULL OR i.last_reminded_at::date <= $2)"
        "   AND cardinality(o.customer_emails) > 0"
        " ORDER BY i.payable_on, i.invoice_id LIMIT $3",
        today,
        since,
        limit,
    )
    requested: list[str] = []
    for r in rows:
        async with conn.transaction():
            due = await conn.fetchval(
                "UPDATE invoices SET last_reminded_at = now() WHERE invoice_id = $1"
                " AND balance > 0 AND (last_reminded_at IS NULL OR last_reminded_at::date <= $2)"
                " RETURNING invoice_id",
                r["invoice_id"],
                since,
            )
            if due is None:  # another replica reminded it a moment ago
                continue
            await request_send(conn, r["invoice_id"], "customer", [], "reminders", "reminder")
        requested.append(r["invoice_id"])
    return {"reminded": requested}
