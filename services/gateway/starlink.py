"""Starlink Enterprise API v2 data-usage pages (`POST /public/v2/data-usage/query`) turned into
daily snapshots. Pure: no I/O.

Facts it relies on (../shared/design/domain.md):
- a page is `{errors, warnings, information, isValid, content}` or just `content`, and
  `content.results[]` holds one service line each, with `billingCycles[].dailyDataUsage[]`;
- a daily entry's `date` is UTC midnight; days without usage are left out;
- `optInPriorityGB` is part of `priorityGB`;
- a cycle's `endDate` comes inclusive (`…T23:59:59Z`) or exclusive (next day `T00:00:00Z`).
The snapshot's `observed_at` is the result's `lastUpdated` (when Starlink last revised it), or
the time the page was received when that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from shared.errors import ValidationFailed
from shared.events.envelope import error_message
from shared.events.usage import LineSnapshot

_line_snapshot = TypeAdapter(LineSnapshot)


@dataclass(frozen=True)
class Rejected:
    index: int
    service_line_number: str | None
    reason: str


def results_of(page: Any) -> list[Any]:
    """The `results` of a page given whole or as its `content`."""
    if not isinstance(page, dict):
        raise ValidationFailed(
            "expected a data-usage page (a JSON object)", fields={"body": "must be an object"}
        )
    if "content" in page:
        if page.get("isValid") is False or page.get("errors"):
            raise ValidationFailed(
                "the page reports errors; nothing was taken from it",
                fields={
                    "errors": "; ".join(str(e) for e in page.get("errors") or [])
                    or "isValid is false"
                },
            )
        page = page["content"]
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise ValidationFailed(
            "expected `content.results` (or `results`) to be a list",
            fields={"content.results": "must be a list of service lines"},
        )
    return list(page["results"])


def parse_instant(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be a timestamp string")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # Starlink timestamps are UTC
    return parsed.astimezone(UTC)


def usage_day(value: Any) -> date:
    """A daily entry's date: `2026-11-01`, or UTC midnight `2026-11-01T00:00:00Z`."""
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    instant = parse_instant(value)
    if instant.time() != time(0):
        raise ValueError(f"a daily entry's date must be UTC midnight, got {value}")
    return instant.date()


def cycle_end(value: Any) -> date:
    """First day after a cycle, whichever form its `endDate` takes: inclusive `…T23:59:59Z`
    (any time after midnight) or exclusive next-day `T00:00:00Z`."""
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value) + timedelta(days=1)
    instant = parse_instant(value)
    return instant.date() if instant.time() == time(0) else instant.date() + timedelta(days=1)


def _gb(value: Any) -> Any:
    return "0" if value is None else value


def snapshots_of_page(
    page: Any, received_at: datetime
) -> tuple[list[LineSnapshot], list[Rejected]]:
    """Every daily entry of every cycle of every result as a snapshot; each entry that cannot be
    taken is rejected with its place in the page and the reason. `index` counts daily entries
    in page order."""
    good: list[LineSnapshot] = []
    bad: list[Rejected] = []
    index = 0
    for r, result in enumerate(results_of(page)):
        line = result.get("serviceLineNumber") if isinstance(result, dict) else None
        line = line if isinstance(line, str) else None
        where = f"results[{r}]"
        try:
            observed = (
                parse_instant(result["lastUpdated"]) if result.get("lastUpdated") else (received_at)
            )
            cycles = result.get("billingCycles") or []
            if not isinstance(cycles, list):
                raise ValueError("billingCycles must be a list")
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            bad.append(Rejected(index, line, f"{where}: {exc}"))
            index += 1
            continue
        for c, cycle in enumerate(cycles):
            entries = cycle.get("dailyDataUsage") or [] if isinstance(cycle, dict) else []
            bounds = _cycle_bounds(cycle)
            for d, entry in enumerate(entries):
                place = f"{where}.billingCycles[{c}].dailyDataUsage[{d}]"
                try:
                    good.append(_snapshot(line, entry, observed, bounds))
                except (ValueError, TypeError, AttributeError, KeyError) as exc:
                    reason = _reason(exc)
                    bad.append(Rejected(index, line, f"{place}: {reason}"))
                index += 1
    return good, bad


def _cycle_bounds(cycle: Any) -> tuple[date, date] | None:
    try:
        return usage_day(cycle["startDate"][:10]), cycle_end(cycle["endDate"])
    except (KeyError, TypeError, ValueError):
        return None


def _snapshot(
    line: str | None, entry: Any, observed: datetime, bounds: tuple[date, date] | None
) -> LineSnapshot:
    if not line:
        raise ValueError("the result has no serviceLineNumber")
    day = usage_day(entry["date"])
    if bounds and not bounds[0] <= day < bounds[1]:
        raise ValueError(f"{day} lies outside its billing cycle {bounds[0]}..{bounds[1]}")
    return _line_snapshot.validate_python(
        {
            "service_line_number": line,
            "date": day,
            "priority_gb": _gb(entry.get("priorityGB")),
            "opt_in_priority_gb": _gb(entry.get("optInPriorityGB")),
            "standard_gb": _gb(entry.get("standardGB")),
            "non_billable_gb": _gb(entry.get("nonBillableGB")),
            "observed_at": observed,
        }
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {error_message(e)}"
            for e in exc.errors()
        )
    if isinstance(exc, KeyError):
        return f"missing {exc.args[0]}"
    return str(exc)
