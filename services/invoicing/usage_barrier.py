"""Runs that see all usage: before a billing run, a regenerate or a proforma, wait (bounded)
until every usage record accepted before the request is in this service's copy.

Two steps, each a Kafka fact rather than a guess: the usage service has stored every
`usage.raw` record below the topic's end offsets at the moment of the request and published
what it announced (its `/internal/usage/settle`); then this service's consumer group has
passed the end offsets of `usage.recorded` as they stand after that. A wait that runs out is a
409 (`usage_pending`) naming what is still pending; nothing is generated then.
"""

from __future__ import annotations

import logging
import time

from services.invoicing import usage_client
from shared.errors import Conflict, TransientError
from shared.events.topics import USAGE_RECORDED
from shared.service import Runtime

log = logging.getLogger(__name__)


class UsagePending(Conflict):
    """A billing run (or proforma) waited for usage accepted before it and the wait ran out:
    nothing was generated; `fields` says what is still pending."""

    code = "usage_pending"


async def wait_for_usage(runtime: Runtime, timeout_seconds: float) -> float:
    """Returns the milliseconds waited; raises UsagePending when the wait runs out."""
    started = time.monotonic()
    deadline = started + timeout_seconds
    await _usage_service_settled(runtime, timeout_seconds)
    targets = await runtime.offsets.end_offsets(USAGE_RECORDED.name)
    group = runtime.group_of(USAGE_RECORDED.name)
    left = await runtime.offsets.wait_passed(group, USAGE_RECORDED.name, targets, deadline)
    if left.behind:
        raise UsagePending(
            f"usage accepted before this request is not yet in the invoices' copy: "
            f"{left.describe()}; try again shortly",
            fields={"usage.recorded": f"{left.records} records pending"},
        )
    waited = (time.monotonic() - started) * 1000
    log.info("usage settled for the run after %.0f ms", waited)
    return waited


async def _usage_service_settled(runtime: Runtime, timeout_seconds: float) -> None:
    try:
        r = await usage_client.call(
            runtime,
            "POST",
            "/internal/usage/settle",
            timeout_seconds + 10,
            json={"timeout_seconds": timeout_seconds},
        )
    except TransientError:
        raise UsagePending(
            "the usage service is not reachable, so accepted usage cannot be confirmed; "
            "try again shortly",
            fields={"usage.raw": "usage service unreachable"},
        ) from None
    if r.status_code != 200:
        message = usage_client.error_message(r)
        raise UsagePending(
            f"the usage service has not stored all accepted usage: {message}",
            fields={"usage.raw": message},
        )
