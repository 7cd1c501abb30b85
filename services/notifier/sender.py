"""The sender: takes due send requests from the queue (a lease per request), renders the PDF,
e-mails it, and publishes the outcome through the outbox. A transient failure is retried with
exponential backoff; a permanent one, or the last attempt, publishes `invoice.send_failed`
with the reason. A sender killed mid-send leaves its lease to run out; the request is then sent
again with the same Message-ID (SMTP gives no way to know whether the server kept it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from services.notifier import repository
from services.notifier.mailer import SendError, SmtpSettings, build_message, deliver
from services.notifier.rendering import Renderer
from shared.db import outbox
from shared.documents import CreditNoteDocument, InvoiceDocument
from shared.errors import is_transient
from shared.events.alerts import UsageThresholdCrossed
from shared.events.notifier import InvoiceSendFailed, InvoiceSent
from shared.events.topics import NOTIFIER_EVENTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float
    lease_seconds: float
    batch: int = 8

    def backoff(self, attempts: int) -> timedelta:
        """The wait before try `attempts + 1`: doubling from the base, capped."""
        doubled = timedelta(seconds=self.retry_base_seconds) * (1 << (attempts - 1))
        return min(timedelta(seconds=self.retry_max_seconds), doubled)


class Sender:
    def __init__(
        self, db: asyncpg.Pool, renderer: Renderer, smtp: SmtpSettings, policy: Policy
    ) -> None:
        self._db = db
        self._renderer = renderer
        self._smtp = smtp
        self._policy = policy
        self.wake = asyncio.Event()

    async def run(self, idle_seconds: float = 1.0) -> None:
        while True:
            try:
                worked = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: the queue is durable, try again shortly
                log.exception("sender pass failed; retrying")
                worked = 0
            if not worked:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), idle_seconds)

    async def send_due(self) -> int:
        async with self._db.acquire() as conn:
            due = await repository.lease_due(conn, self._policy.lease_seconds, self._policy.batch)
        await asyncio.gather(*(self._send(row) for row in due))
        return len(due)

    async def _send(self, row: Any) -> None:
        if row["purpose"] == repository.ALERT_PURPOSE:
            await self._send_alert(row)
            return
        try:
            # A send queued before documents were typed holds the invoice detail: it reads as
            # the same document (fields it does not show are ignored).
            document = InvoiceDocument.model_validate_json(row["document"])
            accepted = await self._attempt(row, document)
        except SendError as exc:
            await self._failed(row, exc.reason, exc.permanent)
            return
        except Exception as exc:  # rendering failed: transient ones are retried
            await self._failed(row, f"rendering failed: {exc}", not is_transient(exc))
            return
        async with self._db.acquire() as conn, conn.transaction():
            await repository.finish(conn, row["request_id"], "SENT")
            event = InvoiceSent(
                request_id=row["request_id"],
                invoice_id=row["invoice_id"],
                purpose=row["purpose"],
                recipients=accepted,
                message_id=row["message_id"],
            )
            await outbox.stage(conn, NOTIFIER_EVENTS, [event])
        log.info("%s sent to %s", row["invoice_id"], ", ".join(accepted))

    async def _attempt(self, row: Any, document: InvoiceDocument) -> list[str]:
        if row["purpose"] == "credit_note":
            if row["credit_note"] is None:
                raise SendError("a credit note e-mail without its credit note", permanent=True)
            note = CreditNoteDocument.model_validate_json(row["credit_note"])
            pdf, filename = await self._renderer.credit_note_pdf(note), f"{note.id}.pdf"
        else:
            note = None
            pdf, filename = await self._renderer.pdf(document), f"{row['invoice_id']}.pdf"
        subject, body = self._renderer.documents.mail_text(document, row["purpose"], note)
        recipients = list(row["recipients"])
        message = build_message(
            self._smtp.sender,
            recipients,
            subject,
            body,
            row["message_id"],
            pdf,
            filename,
        )
        return await deliver(message, recipients, self._smtp)

    async def _send_alert(self, row: Any) -> None:
        """A usage alert's e-mail: text from the templates, no attachment, no invoice event
        (the alert itself was published by the invoicing service)."""
        try:
            alert = UsageThresholdCrossed.model_validate_json(row["alert"])
            subject, body = self._renderer.documents.alert_text(alert)
            recipients = list(row["recipients"])
            message = build_message(self._smtp.sender, recipients, subject, body, row["message_id"])
            accepted = await deliver(message, recipients, self._smtp)
        except SendError as exc:
            await self._failed(row, exc.reason, exc.permanent)
            return
        except Exception as exc:  # a template that does not render: a transient one retries
            await self._failed(row, f"the alert e-mail failed: {exc}", not is_transient(exc))
            return
        async with self._db.acquire() as conn:
            await repository.finish(conn, row["request_id"], "SENT")
        log.info("usage alert %s sent to %s", alert.alert_id, ", ".join(accepted))

    async def _failed(self, row: Any, reason: str, permanent: bool) -> None:
        final = permanent or row["attempts"] >= self._policy.max_attempts
        async with self._db.acquire() as conn, conn.transaction():
            if not final:
                delay = self._policy.backoff(row["attempts"])
                await repository.retry_later(conn, row["request_id"], delay, reason)
                log.warning(
                    "%s: attempt %s failed (%s); retrying in %s",
                    row["request_id"],
                    row["attempts"],
                    reason,
                    delay,
                )
                return
            await repository.finish(conn, row["request_id"], "FAILED", reason)
            if row["purpose"] == repository.ALERT_PURPOSE:  # no invoice to tell
                log.error("%s: alert e-mail failed for good: %s", row["request_id"], reason)
                return
            event = InvoiceSendFailed(
                request_id=row["request_id"],
                invoice_id=row["invoice_id"],
                purpose=row["purpose"],
                reason=f"{reason} (after {row['attempts']} attempt(s))",
            )
            await outbox.stage(conn, NOTIFIER_EVENTS, [event])
        log.error("%s: send failed for good: %s", row["request_id"], reason)
