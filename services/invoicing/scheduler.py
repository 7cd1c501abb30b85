"""The scheduler: at the start of each UTC month, once `scheduler_settle_hours` have passed and
accepted usage has reached the invoices' copy (checked at start-up and then every
`interval_seconds`), run the billing of that month unless it already ran; and, on the same
checks, the reminders of overdue invoices (each invoice at most once per interval). Replicas
may all check: the run takes a per-period lock and is idempotent; reminders stamp each
invoice in the transaction that requests its e-mail."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from services.invoicing import listing, runs, sending
from services.invoicing.billing import Period
from services.invoicing.usage_barrier import wait_for_usage
from shared.service import Runtime

log = logging.getLogger(__name__)


async def run_monthly(runtime: Runtime, interval_seconds: float = 3600.0) -> None:
    while True:
        try:
            await run_if_due(runtime, datetime.now(UTC))
            await remind(runtime, datetime.now(UTC))
        except asyncio.CancelledError:
            raise
        except Exception:  # the database away: try again at the next check
            log.exception("scheduled billing run failed; retrying at the next check")
        await asyncio.sleep(interval_seconds)


def is_due(now: datetime, settle_hours: int) -> bool:
    """The month's run waits `settle_hours` into the 1st (UTC): the last day of the month
    before is revised for up to a day after it ends."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return now >= start + timedelta(hours=settle_hours)


async def run_if_due(runtime: Runtime, now: datetime) -> bool:
    settle_hours: int = getattr(runtime.settings, "scheduler_settle_hours", 6)
    if not is_due(now, settle_hours):
        return False
    period = str(Period(now.year, now.month))
    async with runtime.pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM billing_runs WHERE period = $1", period):
            return False
    timeout: float = getattr(runtime.settings, "run_settle_timeout_seconds", 120.0)
    await wait_for_usage(runtime, timeout)  # a 409 here is retried at the next check
    async with runtime.pool.acquire() as conn:
        window: int = getattr(runtime.settings, "correction_months", 3)
        result = await runs.billing_run(
            conn,
            period,
            trigger="scheduler",
            window=window,
            credit_notes_for_corrections=runs.corrections_by_credit_note(runtime.settings),
        )
    log.info(
        "scheduled billing run %s: %s generated, %s skipped",
        period,
        len(result["generated"]),
        len(result["skipped"]),
    )
    return True


async def remind(runtime: Runtime, now: datetime) -> None:
    interval = int(getattr(runtime.settings, "reminder_interval_days", 7))
    if interval <= 0:
        return
    async with runtime.pool.acquire() as conn:
        result = await sending.send_reminders(conn, now.date(), interval)
    if result["reminded"]:
        log.info("reminders requested for %s overdue invoices", len(result["reminded"]))


async def compact_totals(runtime: Runtime, interval_seconds: float = 2.0) -> None:
    """Fold the list's total deltas into the day totals, so readers add few rows."""
    while True:
        try:
            async with runtime.pool.acquire() as conn:
                await listing.compact(conn)
        except asyncio.CancelledError:
            raise
        except Exception:  # the database away: the deltas wait, readers still add them
            log.exception("compacting the invoice totals failed; retrying")
        await asyncio.sleep(interval_seconds)
