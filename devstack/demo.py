"""A small demo data set, loaded through the public API (idempotent: loading it twice changes
nothing, since every snapshot has a fixed `observed_at`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

DEMO_LINES = ("AST-511274-31364-54", "AST-511274-31364-55", "AST-700100-20001-01")


def _call(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path} answered {exc.code}: {exc.read().decode()}") from None


def demo_records(today: date) -> list[dict[str, str]]:
    """Daily usage for the previous month and this month so far, for three service lines."""
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    records = []
    for n, line in enumerate(DEMO_LINES):
        day = first
        while day < today:
            priority = Decimal(3 + n) + Decimal(day.day % 7) / 4
            records.append(
                {
                    "service_line_number": line,
                    "date": day.isoformat(),
                    "priority_gb": str(priority),
                    "opt_in_priority_gb": str(priority / 4),
                    "standard_gb": str(Decimal(day.day % 5) / 2),
                    "observed_at": datetime.combine(
                        day + timedelta(days=1), datetime.min.time(), UTC
                    ).isoformat(),
                }
            )
            day += timedelta(days=1)
    return records


def load(base: str, admin_token: str) -> str:
    result = _call(
        base,
        admin_token,
        "POST",
        "/api/v1/usage/records",
        {"records": demo_records(datetime.now(UTC).date())},
    )
    return f"demo usage: {result['accepted']} daily records for {len(DEMO_LINES)} service lines"
