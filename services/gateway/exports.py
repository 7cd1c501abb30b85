"""Tables as files: CSV (UTF-8, a header row, RFC 4180 quoting, text that a spreadsheet would
run as a formula neutralised) and XLSX (one sheet, written with XlsxWriter: amounts as numbers
with their decimal places, codes and any other text as text, whatever characters it holds)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

import xlsxwriter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from shared.errors import ValidationFailed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Plain decimals only (ASCII digits, no exponent, no sign but a leading minus): "-12.50", "3".
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
LEADING_ZERO = re.compile(r"-?0[0-9]")
# OWASP's list of the first characters that make a spreadsheet read a CSV cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A lone surrogate cannot be encoded as UTF-8: it would fail the whole file, so it becomes U+FFFD.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
CELL_LIMIT = 32767  # Excel's most characters in a cell, counted in UTF-16 code units
TRUNCATED = "…[truncated]"
SHEET_LIMIT = 1_048_576  # rows in a worksheet, the header included
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def _text(value: Any) -> str:
    return LONE_SURROGATE.sub("\ufffd", str(value))


def is_number(text: str) -> bool:
    """Amounts and counts are numbers; a code with leading zeros ("00123") stays text."""
    return NUMBER.fullmatch(text) is not None and LEADING_ZERO.match(text) is None


def neutralised(text: str) -> str:
    """A cell a spreadsheet would read as a formula gets a leading single quote (OWASP's advice
    against CSV injection); a plain decimal such as "-12.50" (a credit) is a number, not a
    formula, and stays as it is so that the column keeps summing."""
    if text.startswith(FORMULA_START) and NUMBER.fullmatch(text) is None:
        return "'" + text
    return text


def to_csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralised(_text(c)) for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else neutralised(_text(row[c])) for c in columns])
    return out.getvalue().encode()


def fitted(text: str) -> str:
    """Text over Excel's cell limit is cut, with a marker that says so, rather than left for
    XlsxWriter to cut silently; the cut never splits a character."""
    units = text.encode("utf-16-le")
    if len(units) // 2 <= CELL_LIMIT:
        return text
    keep = units[: (CELL_LIMIT - len(TRUNCATED)) * 2].decode("utf-16-le", errors="ignore")
    return keep + TRUNCATED


def sheet_name(name: str) -> str:
    """Excel refuses these characters in a sheet name, an apostrophe at either end, and more
    than 31 characters."""
    return SHEET_NAME_FORBIDDEN.sub("_", name)[:31].strip("'") or "Sheet1"


class _Sheet:
    """One worksheet, written cell by cell with the writer of each type (never `write()`, which
    would turn text starting with "=" into a formula)."""

    def __init__(self, book: Any, name: str) -> None:
        self.book = book
        self.sheet = book.add_worksheet(sheet_name(name))
        # A fragment without formatting in the rich-string workaround below: the default font.
        self.plain = book.add_format()
        self.decimals: dict[int, Any] = {}

    def number_format(self, text: str) -> Any:
        """A value of "4592.30" shows as 4592.30, not 4592.3: it keeps the places it has."""
        places = len(text.partition(".")[2])
        if not places:
            return None
        if places not in self.decimals:
            self.decimals[places] = self.book.add_format({"num_format": "0." + "0" * places})
        return self.decimals[places]

    def write(self, row: int, col: int, value: Any) -> None:
        if value is None or value == "":
            return
        if isinstance(value, bool):
            self.sheet.write_boolean(row, col, value)
            return
        text = _text(value)
        if is_number(text):
            # Exact: XlsxWriter turns a Fraction into the cell's number itself.
            self.sheet.write_number(row, col, Fraction(Decimal(text)), self.number_format(text))
            return
        text = fitted(text)
        if text.startswith("<r>") and text.endswith("</r>"):
            # XlsxWriter 3.3.1 takes such a string for the XML of a rich string and writes it
            # unescaped (the workbook breaks, or takes in markup). Written as two runs of rich
            # text, the same characters are escaped and read back as one string.
            self.sheet.write_rich_string(row, col, text[:1], self.plain, text[1:])
            return
        self.sheet.write_string(row, col, text)


def to_xlsx(columns: Sequence[str], rows: Sequence[dict[str, Any]], sheet: str) -> bytes:
    if len(rows) + 1 > SHEET_LIMIT:
        raise ValidationFailed(
            f"the export has {len(rows)} rows, more than a worksheet holds",
            fields={"format": "use csv, or narrow the filters"},
        )
    out = io.BytesIO()
    # In memory: the rows are already all in memory (one JSON answer), and no temporary files
    # are needed. The string options only guard write(), which is never called.
    book = xlsxwriter.Workbook(
        out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    writer = _Sheet(book, sheet)
    for col, name in enumerate(columns):
        writer.write(0, col, name)
    for r, row in enumerate(rows, start=1):
        for col, name in enumerate(columns):
            writer.write(r, col, row.get(name))
    book.close()
    return out.getvalue()


async def exported(
    columns: Sequence[str], rows: Sequence[dict[str, Any]], format: str, name: str
) -> Response:
    # A report of every invoice is seconds of work: off the event loop, in a worker thread.
    if format == "xlsx":
        body = await run_in_threadpool(to_xlsx, columns, rows, name)
        media, ext = XLSX, "xlsx"
    else:
        body = await run_in_threadpool(to_csv, columns, rows)
        media, ext = "text/csv; charset=utf-8", "csv"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{ext}"'},
    )
