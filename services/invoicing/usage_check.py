"""Proof that the invoicing service's copy of usage agrees with its source: each line's monthly
figures here against the usage service's, every difference listed, and the lines whose usage
could not be applied. `billport usage check` and `GET /api/v1/usage/check` show it; `billport
usage resync` repairs what it finds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from services.invoicing import repository, usage_client
from shared.errors import ValidationFailed
from shared.money import format_gb
from shared.service import Runtime

FIGURES = ("days", "priority_gb", "opt_in_priority_gb", "standard_gb", "non_billable_gb")
Key = tuple[str, str]


def differences(
    source: Iterable[Mapping[str, Any]], copy: Iterable[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Every (line, month, figure) where the copy differs from the source; a month missing on
    one side counts as zeros there. Figures compare as numbers ("1.50" equals "1.5")."""
    theirs = {(r["service_line_number"], r["month"]): r for r in source}
    ours = {(r["service_line_number"], r["month"]): r for r in copy}
    found = []
    for key in sorted(theirs.keys() | ours.keys()):
        a, b = theirs.get(key), ours.get(key)
        for figure in FIGURES:
            want, have = _value(a, figure), _value(b, figure)
            if want != have:
                found.append(
                    {
                        "service_line_number": key[0],
                        "month": key[1],
                        "figure": figure,
                        "usage": _text(want, figure),
                        "invoicing": _text(have, figure),
                    }
                )
    return found


def _value(row: Mapping[str, Any] | None, figure: str) -> Decimal:
    return Decimal(str(row[figure])) if row is not None else Decimal(0)


def _text(value: Decimal, figure: str) -> str:
    return str(int(value)) if figure == "days" else format_gb(value)


async def check(runtime: Runtime, from_month: str) -> dict[str, Any]:
    first_day = _first_day(from_month)
    r = await usage_client.call(
        runtime, "GET", "/internal/usage/months", 600, params={"from": from_month}
    )
    if r.status_code != 200:
        raise ValidationFailed(
            f"the usage service refused the check: {usage_client.error_message(r)}",
            fields={"from": usage_client.error_message(r)},
        )
    source = r.json()["items"]
    async with runtime.pool.acquire() as conn:
        copy = [_month_item(row) for row in await repository.month_figures(conn, first_day)]
        failures = await repository.open_failures(conn)
    found = differences(source, copy)
    return {
        "from": from_month,
        "consistent": not found and not failures,
        "service_lines": len(
            {r["service_line_number"] for r in source} | {r["service_line_number"] for r in copy}
        ),
        "months_compared": len(
            {(r["service_line_number"], r["month"]) for r in source}
            | {(r["service_line_number"], r["month"]) for r in copy}
        ),
        "differences": found,
        "apply_failures": [
            {
                "id": f["id"],
                "service_line_number": f["service_line_number"],
                "days": f["days"],
                "reason": f["reason"],
                "failed_at": f["failed_at"].isoformat(),
            }
            for f in failures
        ],
    }


def _first_day(month: str) -> date:
    try:
        year, number = int(month[:4]), int(month[5:7])
        if len(month) != 7 or month[4] != "-" or not 1900 <= year <= 2999:
            raise ValueError
        return date(year, number, 1)
    except ValueError:
        raise ValidationFailed(
            "bad month", fields={"from": "must be a month YYYY-MM (1900-2999)"}
        ) from None


def _month_item(row: Any) -> dict[str, Any]:
    return {
        "service_line_number": row["service_line_number"],
        "month": row["month"].isoformat()[:7],
        **{f: row[f] for f in FIGURES},
    }
