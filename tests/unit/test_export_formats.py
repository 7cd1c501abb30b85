"""CSV and XLSX exports read back by independent readers (csv, openpyxl)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl

from services.gateway.exports import to_csv, to_xlsx

COLUMNS = ["invoice_id", "org_name", "amount", "approved", "reference", "note"]
ROWS = [
    {
        "invoice_id": "INV-202611-000001",
        "org_name": 'Fleet "A", Inc',
        "amount": "4592.30",
        "approved": True,
        "reference": "00123",
        "note": None,
    },
    {
        "invoice_id": "INV-202611-000002",
        "org_name": "Ørsted & <Sons>",
        "amount": "-12.50",
        "approved": False,
        "reference": "wire 7",
        "note": "line one\nline two",
    },
]


def test_csv_quotes_what_needs_it_and_keeps_every_value() -> None:
    text = to_csv(COLUMNS, ROWS).decode()
    read = list(csv.DictReader(io.StringIO(text)))
    assert read[0]["org_name"] == 'Fleet "A", Inc' and read[0]["reference"] == "00123"
    assert read[1]["note"] == "line one\nline two" and read[0]["note"] == ""
    assert [r["amount"] for r in read] == ["4592.30", "-12.50"]


def test_xlsx_opens_with_amounts_as_numbers_and_codes_as_text() -> None:
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(COLUMNS, ROWS, "invoice-report")))
    sheet = book.active
    assert sheet.title == "invoice-report"
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == COLUMNS
    first, second = values[1], values[2]
    assert first[0] == "INV-202611-000001" and first[1] == 'Fleet "A", Inc'
    assert Decimal(str(first[2])) == Decimal("4592.30") and first[3] is True
    assert first[4] == "00123" and first[5] is None
    assert second[1] == "Ørsted & <Sons>" and Decimal(str(second[2])) == Decimal("-12.50")
    assert second[5] == "line one\nline two"
