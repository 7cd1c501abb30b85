"""The invoicing service's copy of usage, fed by `usage.recorded`.

A message carries many lines. It is applied whole in one transaction; if that fails for a reason
other than the world being away (database, broker), each line is applied on its own, a few
times, so one line that cannot be applied never takes its neighbours with it. A line that still
fails is kept in `usage_apply_failures` with the reason and its days, counted in a metric,
shown in `/readyz` and in the usage check, and sent to `usage.recorded.dlq`: an alarm, never a
silent loss. The next time that line's days are applied (a resync), the failure is resolved.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from services.invoicing import alerts, repository
from shared.errors import is_transient
from shared.events.usage import UsageRecorded
from shared.events.usage_wire import Day, RecordedEvent, as_models, parse_recorded, text_columns
from shared.kafka import describe
from shared.service import Runtime

log = logging.getLogger(__name__)

USAGE_APPLY_FAILED = Counter(
    "billport_usage_apply_failures_total",
    "Service lines of usage.recorded messages the invoicing service could not apply",
)


async def store_usage(runtime: Runtime, records: list[Any]) -> None:
    """Apply a batch of `usage.recorded` records; raises only transient errors (the batch is
    then delivered again)."""
    events: list[tuple[Any, RecordedEvent]] = []
    garbage: list[tuple[Any, str]] = []
    for record in records:
        try:  # msgspec structs, not models (a million days); a refusal keeps the model's reason
            events.append((record, parse_recorded(record.value)))
        except Exception as exc:  # not an event at all: its lines are unknown, keep the key
            garbage.append((record, describe(exc)))
    await _apply(runtime, events)
    for record, reason in garbage:
        await _fail(runtime, record, _key(record), [], reason, None)


async def _apply(runtime: Runtime, events: list[tuple[Any, RecordedEvent]]) -> None:
    if not events:
        return
    try:
        # the messages' texts joined column by column: no day is built on the way to the
        # database (inside the try: whatever fails here is handled as any failed batch)
        columns = [",".join(t) for t in zip(*(e.columns for _, e in events), strict=True)]
        async with runtime.pool.acquire() as conn, conn.transaction():
            await copy_and_watch(conn, columns)
        return
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("usage batch failed whole (%s); applying line by line", describe(exc))
    for record, event in events:
        for line, line_days in _by_line(event.days).items():
            await _apply_line(runtime, record, event, line, line_days)


async def copy_and_watch(conn: Any, columns: list[str]) -> None:
    """Copy the days (the seven texts of `text_columns`), then check the alerts their rise may
    have crossed, in one transaction: an alert is made exactly when the usage that crossed is
    stored."""
    rose = await repository.apply_columns(conn, columns)
    await alerts.check(conn, rose)


def _by_line(days: Sequence[Day]) -> dict[str, list[Day]]:
    grouped: dict[str, list[Day]] = defaultdict(list)
    for d in days:
        grouped[d.service_line_number].append(d)
    return grouped


async def _apply_line(
    runtime: Runtime, record: Any, event: RecordedEvent, line: str, days: list[Day]
) -> None:
    attempts = max(1, runtime.settings.consumer_max_attempts)
    reason = ""
    for attempt in range(1, attempts + 1):
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                await copy_and_watch(conn, text_columns(days))
            return
        except Exception as exc:
            if is_transient(exc):
                raise
            reason = describe(exc)
            log.warning("line %s: attempt %s of %s failed: %s", line, attempt, attempts, reason)
            await asyncio.sleep(0.05 * attempt)
    await _fail(runtime, record, line, days, reason, event)


async def _fail(
    runtime: Runtime,
    record: Any,
    line: str,
    days: list[Day],
    reason: str,
    event: RecordedEvent | None,
) -> None:
    async with runtime.pool.acquire() as conn:
        kept = await repository.record_failure(
            conn,
            (record.partition, record.offset),
            line,
            days,
            reason,
            event.event_id if event else None,
        )
    if not kept:
        return  # this message's failure of the line was kept and dead-lettered already
    USAGE_APPLY_FAILED.inc()
    payload = (
        UsageRecorded(days=as_models(days), correlation_id=event.correlation_id).to_json()
        if event and days
        else record.value or b""
    )
    await runtime.dead_letters().send(record, reason, "UsageNotApplied", 1, payload=payload)
    log.error("usage of %s not applied (%s days): %s", line, len(days), reason)


def _key(record: Any) -> str:
    key: bytes | None = record.key
    return key.decode("utf-8", "replace") if key else "(no key)"


async def readiness(runtime: Runtime) -> dict[str, Any]:
    """`/readyz` detail: usage the service holds but could not apply is an alarm."""
    async with runtime.pool.acquire() as conn:
        failures = await repository.count_open_failures(conn)
    return {"usage_apply_failures": failures, "alarm": failures > 0}
