"""CSV and XLSX exports read back by independent readers (csv, openpyxl), with ordinary rows
and with hostile text: formulas, control characters, markup, lone surrogates, over-long cells."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from services.gateway.exports import (
    SHEET_LIMIT,
    TRUNCATED,
    fitted,
    neutralised,
    sheet_name,
    to_csv,
    to_xlsx,
)
from shared.errors import ValidationFailed

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
    assert second[3] is False and second[5] == "line one\nline two"
    # Two decimal places shown, as finance reads them; a count keeps the general format.
    assert sheet["C2"].number_format == "0.00" and sheet["C3"].number_format == "0.00"
    assert sheet["C2"].data_type == "n" and sheet["E2"].data_type == "s"


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil")',
        "+cmd",
        "-2+3",
        "@SUM(1)",
        "\tcalc",
        "\rcalc",
        "-",
        "-12.50 ",
        "-1e5",
        "+12.50",
    ],
)
def test_csv_cells_read_as_formulas_get_a_leading_quote(cell: str) -> None:
    assert neutralised(cell) == "'" + cell
    read = list(csv.reader(io.StringIO(to_csv(["c"], [{"c": cell}]).decode(), newline="")))
    assert read == [["c"], ["'" + cell]]


@pytest.mark.parametrize(
    "cell", ["-12.50", "-3", "12.50", "0", "00123", "Acme = fine", "a+b", "", "'quoted"]
)
def test_csv_numbers_and_plain_text_stay_as_they_are(cell: str) -> None:
    assert neutralised(cell) == cell
    read = list(csv.reader(io.StringIO(to_csv(["c"], [{"c": cell}]).decode(), newline="")))
    assert read == [["c"], [cell]]


def test_csv_negative_money_from_decimal_and_int_values_stays_numeric() -> None:
    rows = [{"a": Decimal("-12.50"), "b": -3, "c": "=1+1"}]
    assert to_csv(["a", "b", "c"], rows).decode() == "a,b,c\r\n-12.50,-3,'=1+1\r\n"


def test_csv_replaces_a_lone_surrogate_rather_than_failing() -> None:
    assert to_csv(["c"], [{"c": "a\ud800b"}]).decode() == "c\r\na\ufffdb\r\n"


HOSTILE = {
    "control": "Acme\x01\x1b\x0bLtd",
    "formula": '=HYPERLINK("http://x","y")',
    "plus": "+cmd",
    "markup": "<r>x & y</r>",
    "injected": "<r><t>ok</t></r></si><si><t>more</t></r>",
    "escape_like": "_x0041_ stays",
    "surrogate": "a\ud800b",
    "noncharacter": "x\ufffey",
    "long": "L" * 40000,
    "long_wide": "😀" * 20000,
    "credit": "-12.50",
}


def test_xlsx_of_hostile_text_opens_and_reads_back_as_text() -> None:
    body = to_xlsx(list(HOSTILE), [HOSTILE], "hostile")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
    row = {sheet.cell(1, c).value: sheet.cell(2, c) for c in range(1, len(HOSTILE) + 1)}
    text = {k: cell.value for k, cell in row.items() if k != "credit"}
    assert all(row[k].data_type == "s" for k in text)
    # XlsxWriter writes a control character as Excel's escape _xHHHH_ (XML 1.0 cannot hold
    # it); openpyxl reads the escape back as it stands. Excel shows the character itself.
    assert text["control"] == "Acme_x0001__x001B__x000B_Ltd"
    assert text["formula"] == '=HYPERLINK("http://x","y")' and text["plus"] == "+cmd"
    assert text["markup"] == "<r>x & y</r>"
    assert text["injected"] == "<r><t>ok</t></r></si><si><t>more</t></r>"
    assert text["escape_like"] == "_x0041_ stays"
    assert text["surrogate"] == "a\ufffdb"
    assert text["noncharacter"] == "x_xFFFE_y"
    assert text["long"] == "L" * (32767 - 12) + "…[truncated]"
    assert text["long_wide"] == "😀" * ((32767 - 12) // 2) + "…[truncated]"
    assert row["credit"].data_type == "n" and row["credit"].value == Decimal("-12.5")
    assert row["credit"].number_format == "0.00"
    with zipfile.ZipFile(io.BytesIO(body)) as package:
        assert "<f>" not in package.read("xl/worksheets/sheet1.xml").decode()


def test_cells_are_cut_at_excels_limit_in_utf16_units_with_a_marker() -> None:
    assert TRUNCATED == "…[truncated]"
    assert fitted("a" * 32767) == "a" * 32767
    assert fitted("a" * 32768) == "a" * 32755 + TRUNCATED
    # 16383 wide characters are 32766 units; one more would pass the limit.
    assert fitted("😀" * 16383) == "😀" * 16383
    assert fitted("😀" * 16384) == "😀" * 16377 + TRUNCATED


def test_sheet_names_are_made_acceptable_to_excel() -> None:
    assert sheet_name("invoice-report-20261105") == "invoice-report-20261105"
    assert sheet_name("INV:1[a]/b*?\\") == "INV_1_a__b___"
    assert sheet_name("x" * 40) == "x" * 31
    assert sheet_name("'") == "Sheet1"


def test_xlsx_refuses_more_rows_than_a_sheet_holds() -> None:
    with pytest.raises(ValidationFailed):
        to_xlsx(["a"], [{}] * SHEET_LIMIT, "big")
