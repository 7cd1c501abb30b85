"""Use cases that make the usage service's state visible downstream on demand:

- `settle`: everything accepted on `usage.raw` before the call is stored, and every
  `usage.recorded` it caused has left the outbox for Kafka. The billing run waits on this
  (then on its own consumer group), so a run bills every record accepted before it was asked.
- `resync`: announce the stored days again from a month on, so a consumer's copy converges
  whatever it lost (consumers copy state: an announcement they already hold changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date
from typing import Any

from services.usage import repository
from services.usage.handlers import announcements
from shared.db import outbox
from shared.errors import Conflict, NotFound
from shared.events.topics import USAGE_RAW, USAGE_RECORDED
from shared.events.usage import MAX_DAYS_PER_ANNOUNCEMENT
from shared.service import Runtime

log = logging.getLogger(__name__)

RESYNC_PAGE_DAYS = 4 * MAX_DAYS_PER_ANNOUNCEMENT


async def settle(runtime: Runtime, timeout_seconds: float) -> dict[str, Any]:
    """Wait (bounded) until every `usage.raw` record accepted before now is stored and its
    announcements are published; a Conflict names what is still pending when time runs out."""
    started = time.monotonic()
    deadline = started + timeout_seconds
    offsets = runtime.offsets
    targets = await offsets.end_offsets(USAGE_RAW.name)
    group = runtime.group_of(USAGE_RAW.name)
    left = await offsets.wait_passed(group, USAGE_RAW.name, targets, deadline)
    if left.behind:
        raise Conflict(f"usage is still arriving: {left.describe()}; try again shortly")
    # Everything those records announced is in the outbox now (staged in the transaction
    # that stored them, committed before their offsets): wait for the relay to publish it.
    async with runtime.pool.acquire() as conn:
        last = await conn.fetchval("SELECT max(id) FROM outbox") or 0
        unpublished = await _unpublished(conn, last)
        while unpublished and time.monotonic() < deadline:
            await _pause()
            unpublished = await _unpublished(conn, last)
    if unpublished:
        raise Conflict(
            f"{unpublished} usage.recorded announcements not yet published; try again shortly"
        )
    return {
        "raw_end_offsets": {str(p): o for p, o in sorted(targets.items())},
        "waited_ms": round((time.monotonic() - started) * 1000, 1),
    }


async def _unpublished(conn: Any, last: int) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM outbox WHERE id <= $1 AND topic = $2", last, USAGE_RECORDED.name
    )
    return count


async def _pause() -> None:
    await asyncio.sleep(0.05)


STALE_SECONDS = 60
"""A running job without progress for this long was abandoned (its replica stopped)."""

JOB_COLUMNS = (
    "id, to_char(from_month, 'YYYY-MM') AS from, state, days, service_lines, messages,"
    " started_at, heartbeat_at, finished_at, error"
)


def job_view(row: Any) -> dict[str, Any]:
    out = dict(row)
    for key in ("started_at", "heartbeat_at", "finished_at"):
        if out[key] is not None:
            out[key] = out[key].isoformat().replace("+00:00", "Z")
    return out


async def start_resync(runtime: Runtime, first_day: date) -> dict[str, Any]:
    """Start a resync job (one at a time across replicas); a Conflict names the running one."""
    async with runtime.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE resync_jobs SET state = 'failed', error = 'abandoned: no progress',"
            " finished_at = now() WHERE state = 'running'"
            " AND heartbeat_at < now() - make_interval(secs => $1)",
            STALE_SECONDS,
        )
        running = await conn.fetchrow(
            f"SELECT {JOB_COLUMNS} FROM resync_jobs WHERE state = 'running'"
        )
        if running is not None:
            raise Conflict(
                f"resync {running['id']} from {running['from']} is running"
                f" ({running['days']} days so far); watch it or wait for it to finish"
            )
        row = await conn.fetchrow(
            f"INSERT INTO resync_jobs (from_month, state) VALUES ($1, 'running')"
            f" RETURNING {JOB_COLUMNS}",
            first_day,
        )
    task = asyncio.create_task(_run_resync(runtime, row["id"], first_day))
    runtime.extras.setdefault("resyncs", set()).add(task)
    task.add_done_callback(runtime.extras["resyncs"].discard)
    return job_view(row)


async def get_job(runtime: Runtime, job_id: int) -> dict[str, Any]:
    async with runtime.pool.acquire() as conn:
        row = await conn.fetchrow(f"SELECT {JOB_COLUMNS} FROM resync_jobs WHERE id = $1", job_id)
    if row is None:
        raise NotFound(f"no resync job {job_id}")
    return job_view(row)


async def _run_resync(runtime: Runtime, job_id: int, first_day: date) -> None:
    try:
        await resync(runtime, first_day, job_id)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("resync %s failed", job_id)
        async with runtime.pool.acquire() as conn:
            await conn.execute(
                "UPDATE resync_jobs SET state = 'failed', error = $2, finished_at = now()"
                " WHERE id = $1",
                job_id,
                f"{type(exc).__name__}: {exc}"[:1000],
            )


async def resync(runtime: Runtime, first_day: date, job_id: int) -> dict[str, Any]:
    """Stage every stored day from `first_day` on as `usage.recorded` (source `resync`), a page
    per transaction, so a large resync never holds one long transaction; the job row shows
    the progress after each page."""
    days = messages = 0
    lines: set[str] = set()
    after: tuple[str, date] | None = None
    started = time.monotonic()
    while True:
        async with runtime.pool.acquire() as conn, conn.transaction():
            rows = await repository.days_from(conn, first_day, after, RESYNC_PAGE_DAYS)
            if rows:
                messages += await outbox.stage_serialized(
                    conn, USAGE_RECORDED, announcements(rows, None, source="resync")
                )
                days += len(rows)
                lines.update(r["service_line_number"] for r in rows)
            await conn.execute(
                "UPDATE resync_jobs SET days = $2, service_lines = $3, messages = $4,"
                " heartbeat_at = now(), state = CASE WHEN $5 THEN 'done' ELSE state END,"
                " finished_at = CASE WHEN $5 THEN now() END WHERE id = $1",
                job_id,
                days,
                len(lines),
                messages,
                not rows,
            )
        if not rows:
            break
        last = rows[-1]
        after = (last["service_line_number"], date.fromisoformat(last["date"]))
        log.info("resync from %s: %s days of %s lines announced", first_day, days, len(lines))
    return {
        "from": first_day.isoformat(),
        "days": days,
        "service_lines": len(lines),
        "messages": messages,
        "seconds": round(time.monotonic() - started, 2),
    }
