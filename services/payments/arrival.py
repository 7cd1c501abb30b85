"""An invoice this service has not heard of yet: wait for it rather than refuse at once.

The invoicing service announces each invoice on `invoicing.events` (through its outbox), and
this service learns of it by consuming that topic; a payment posted a moment after its invoice
was created may come first. So an unknown invoice is looked for again once this service's
consumer group has applied everything the topic holds now (offsets are committed only after
the effect is stored: `shared.offsets`). An invoice reaches the topic a moment after its
creation committed (the outbox relay runs on a notification, or at the latest on its poll of
about a second), so the look is repeated, each time up to the topic's end as it stands then,
for a short grace: known then, the posting goes ahead; still unknown, the invoice does not
exist (404); the group not caught up by the deadline, nothing can be said yet (503, retry with
the same Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass

from services.payments import repository
from shared.errors import NotFound, TransientError
from shared.events.topics import INVOICING_EVENTS
from shared.service import Runtime

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05
INVOICE_NUMBER = re.compile(r"^INV-[0-9]{6}-[0-9]{6,}$")
"""How the invoicing service numbers invoices (`invoices.next_number`): only such an id is
worth waiting for."""


@dataclass(frozen=True)
class Patience:
    grace_seconds: float
    """How long an invoice may take from its creation to `invoicing.events`."""
    timeout_seconds: float
    """The most a request waits for this service's consumer group to catch up."""


async def known(runtime: Runtime, invoice_id: str) -> bool:
    async with runtime.pool.acquire() as conn:
        return await repository.known_invoice(conn, invoice_id)


async def known_or_404(runtime: Runtime, invoice_id: str, patience: Patience) -> None:
    """Return once this service knows the invoice; NotFound when, caught up with everything
    published within the grace, it still does not; TransientError when it cannot catch up."""
    if await known(runtime, invoice_id):
        return
    if not INVOICE_NUMBER.match(invoice_id):  # never an invoice: nothing to wait for
        raise NotFound(f"no invoice {invoice_id}", fields={"invoice_id": "unknown invoice"})
    topic = INVOICING_EVENTS.name
    group = runtime.group_of(topic)
    started = time.monotonic()
    deadline = started + patience.timeout_seconds
    while True:
        targets = await runtime.offsets.end_offsets(topic)
        left = await runtime.offsets.wait_passed(group, topic, targets, deadline)
        if await known(runtime, invoice_id):
            waited_ms = (time.monotonic() - started) * 1000
            log.info("invoice %s known after waiting %.0f ms for %s", invoice_id, waited_ms, topic)
            return
        if left.behind:
            raise TransientError(
                f"invoice {invoice_id} is not yet known to the payments service:"
                f" {left.describe()}; retry with the same Idempotency-Key"
            )
        if time.monotonic() - started >= patience.grace_seconds:
            raise NotFound(f"no invoice {invoice_id}", fields={"invoice_id": "unknown invoice"})
        await asyncio.sleep(POLL_SECONDS)
