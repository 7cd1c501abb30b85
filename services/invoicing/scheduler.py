"""The scheduler: at the start of each UTC month (checked at start-up and then every
`interval_seconds`), run the billing of that month unless it already ran; and, on the same
checks, the reminders of overdue invoices (each invoice at most once per interval). Replicas
may all check: the run takes a per-period lock and is idempotent; reminders stamp each
invoice in the transaction that requests its e-mail."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from services.invoicing import listing, runs, sending
from services.invoicing.billing import Period
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


async def run_if_due(runtime: Runtime, now: datetime) -> bool:
    period = str(Period(now.year, now.month))
    async with runtime.pool.acquire() as conn:
        if await conn.fetchval("SELECT 1 FROM billing_runs WHERE period = $1", period):
            return False
        result = await runs.billing_run(conn, period, trigger="scheduler")
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
