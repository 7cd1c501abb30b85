"""The invoice detail is written to JSON without FastAPI's encoder: only values already formatted
may pass; an unformatted one is an error, not some default format on the wire."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.invoicing.invoices import detail_json


def test_formatted_values_are_written_as_they_are() -> None:
    detail = {
        "invoice_id": "INV-202611-000001",
        "amount": "100.00",
        "revision": 2,
        "approved": False,
        "last_send_error": None,
        "payments": [{"amount": "1.10", "received_on": "2026-11-02", "reversed": True}],
        "org_name": "Ålesund Fiskeri «Nord»",
    }
    assert json.loads(detail_json(detail)) == detail


@pytest.mark.parametrize(
    "value", [Decimal("1.10"), date(2026, 11, 2), datetime(2026, 11, 2, tzinfo=UTC), 1.1j]
)
def test_an_unformatted_value_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        detail_json({"lines": [{"amount": value}]})
