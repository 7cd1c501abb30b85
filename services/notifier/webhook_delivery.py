"""The deliverer: takes due webhook deliveries from the queue (a lease each), POSTs the event's
JSON signed with the webhook's secret, and records the attempt. Anything but a 2xx is retried
with exponential backoff up to the last attempt; then the delivery has failed, and after enough
such failures in a row the webhook is disabled.

At least once: a notifier killed after the receiver answered and before the outcome is
committed leaves the lease to run out, and the event is delivered again (same event id)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
import httpx

from services.notifier import webhook_repository as repository
from services.notifier.webhook_repository import Attempt
from services.notifier.webhook_signature import HEADER, sign
from services.notifier.webhooks import (
    DeliveryPolicy,
    TargetRefused,
    TargetRules,
    parse_url,
    resolve,
)

log = logging.getLogger(__name__)
USER_AGENT = "BillPort-Webhooks/1"
SHORT_RETRY_SECONDS = 60.0
"""A retry this soon wakes the deliverer when due; later ones are found by its polling."""


async def post(
    http: httpx.AsyncClient, rules: TargetRules, timeout_seconds: float, row: Any
) -> Attempt:
    """One POST of a delivery, its outcome in our words. The URL is checked again (DNS may now
    answer a private address) and the connection goes to the address checked; redirects are
    not followed; the answer's body is not read."""
    started = time.monotonic()

    def outcome(status_code: int | None, error: str | None) -> Attempt:
        return Attempt(status_code, error, int((time.monotonic() - started) * 1000))

    body = bytes(row["body"])
    try:
        target = await resolve(parse_url(row["url"], rules), rules)
    except TargetRefused as exc:
        return outcome(None, f"refused: {exc}")
    url, host, extensions = target.pinned()
    headers = {
        **host,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER: sign(row["secret"], body),
        "BillPort-Event-Id": str(row["event_id"]),
        "BillPort-Event-Type": row["event_type"],
        "BillPort-Delivery-Attempt": str(row["attempts"]),
    }
    try:
        async with asyncio.timeout(timeout_seconds):  # the whole exchange, however it trickles
            request = http.build_request(
                "POST", url, content=body, headers=headers, extensions=extensions
            )
            response = await http.send(request, stream=True, follow_redirects=False)
            await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return outcome(None, f"no answer within {timeout_seconds:g} s")
    except httpx.ConnectError as exc:
        return outcome(None, f"could not connect: {exc or type(exc).__name__}")
    except httpx.HTTPError as exc:
        return outcome(None, f"{type(exc).__name__}: {exc}")
    code = response.status_code
    if 200 <= code < 300:
        return outcome(code, None)
    if 300 <= code < 400:
        return outcome(code, f"answered {code}; redirects are not followed")
    return outcome(code, f"answered {code}")


class Deliverer:
    def __init__(self, db: asyncpg.Pool, policy: DeliveryPolicy, rules: TargetRules) -> None:
        self._db = db
        self._policy = policy
        self._rules = rules
        self.wake = asyncio.Event()

    async def run(self, idle_seconds: float = 1.0) -> None:
        timeout = httpx.Timeout(self._policy.timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as http:
            while True:
                try:
                    worked = await self.deliver_due(http)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database away: the queue is durable, try again shortly
                    log.exception("webhook delivery pass failed; retrying")
                    worked = 0
                if not worked:
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), idle_seconds)

    async def deliver_due(self, http: httpx.AsyncClient) -> int:
        async with self._db.acquire() as conn:
            due = await repository.lease_due(conn, self._policy.lease_seconds, self._policy.batch)
        await asyncio.gather(*(self._deliver(http, row) for row in due))
        return len(due)

    async def _deliver(self, http: httpx.AsyncClient, row: Any) -> None:
        outcome = await post(http, self._rules, self._policy.timeout_seconds, row)
        attempt, delivery_id, webhook_id = row["attempts"], row["id"], row["webhook_id"]
        async with self._db.acquire() as conn:
            if outcome.delivered:
                await repository.delivered(conn, webhook_id, delivery_id, attempt, outcome)
                log.info("webhook %s: %s delivered", webhook_id, row["event_type"])
                return
            if attempt < self._policy.max_attempts:
                delay = self._policy.backoff(attempt)
                await repository.retry_later(conn, delivery_id, attempt, outcome, delay)
                if delay.total_seconds() <= SHORT_RETRY_SECONDS:  # on time, not at the next poll
                    asyncio.get_running_loop().call_later(delay.total_seconds(), self.wake.set)
                log.warning(
                    "webhook %s: delivery %s attempt %s failed (%s); retrying in %s",
                    webhook_id,
                    delivery_id,
                    attempt,
                    outcome.error,
                    delay,
                )
                return
            disabled = await repository.failed(
                conn,
                webhook_id,
                delivery_id,
                attempt,
                outcome,
                self._policy.disable_after_failures,
            )
        log.error(
            "webhook %s: delivery %s failed after %s attempts: %s",
            webhook_id,
            delivery_id,
            attempt,
            outcome.error,
        )
        if disabled:
            log.error("webhook %s disabled: %s", webhook_id, disabled)
