"""The invoice document (the typed model of shared/documents.py), its templates and e-mail,
without I/O."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.invoicing.sending import recipients_for
from services.notifier.document import Documents, Reseller
from services.notifier.mailer import build_message
from services.notifier.sender import Policy
from shared.documents import DocumentLine, DocumentPayment, InvoiceDocument, money_text
from shared.errors import ValidationFailed

RESELLER = Reseller("Orbit Resale", ("1 Main St", "Seattle"), "billing@orbit.test", ("IBAN X",))


def view_model(detail: dict[str, Any]) -> InvoiceDocument:
    """The document of an invoice detail as the API shows it."""
    return InvoiceDocument.model_validate(detail)


def detail(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "invoice_id": "INV-202611-000007",
        "kind": "SUBSCRIPTION",
        "org_id": "org_1",
        "org_name": "Mariner <Fleet> & Co",
        "period": "2026-11",
        "issued_on": "2026-11-01",
        "payable_on": "2026-12-01",
        "revision": 1,
        "status": "PARTIAL_PAID",
        "regular_charges": "1250.00",
        "additional_charges": "12.34",
        "amount": "1262.34",
        "payments_total": "262.34",
        "balance": "1000.00",
        "approved": True,
        "allowed_actions": ["view"],
        "lines": [
            {"type": "REGULAR", "description": "Plan A", "amount": "1250.00", "quantity": "1"},
            {"type": "OVERAGE", "description": "Overage Oct", "amount": "12.34", "usage_gb": "3.5"},
            {"type": "USAGE_INFO", "description": "Member usage", "amount": "0.00"},
        ],
        "payments": [
            {"received_on": "2026-11-20", "method": "ACH", "amount": "262.34", "applied": True},
            {"received_on": "2026-11-21", "method": "ACH", "amount": "9.00", "applied": False},
        ],
    }
    return {**base, **changes}


def test_amounts_read_with_thousands_separators() -> None:
    assert [money_text(Decimal(x)) for x in ("0.00", "4592.30", "-1234567.50")] == [
        "0.00",
        "4,592.30",
        "-1,234,567.50",
    ]


def test_lines_are_grouped_as_the_document_shows_them() -> None:
    doc = view_model(detail())
    assert [x.description for x in doc.regular_lines] == ["Plan A"]
    assert [x.description for x in doc.additional_lines] == ["Overage Oct"]
    assert [x.description for x in doc.usage_lines] == ["Member usage"]
    assert money_text(doc.amount) == "1,262.34" and doc.status_text == "Partly paid"
    assert len(doc.payments) == 1  # an unapplied posting is not shown as paid


def test_the_cache_key_follows_what_is_shown_only() -> None:
    docs = Documents(RESELLER)
    key = docs.fingerprint(view_model(detail()))
    assert docs.fingerprint(view_model(detail(allowed_actions=[], approved=False))) == key
    assert docs.fingerprint(view_model(detail(balance="999.99"))) != key
    assert Documents(RESELLER, page_size="A4").fingerprint(view_model(detail())) != key


def test_html_escapes_and_carries_the_figures() -> None:
    page = Documents(RESELLER).html(view_model(detail()), inline_css=True)
    assert "Mariner &lt;Fleet&gt; &amp; Co" in page
    assert '"DejaVu Sans"' in page  # the stylesheet is not escaped
    for text in ("INV-202611-000007", "1,262.34", "1,000.00", "Overage Oct", "IBAN X"):
        assert text in page
    assert "size: Letter" in Documents(RESELLER).css
    assert "size: A4" in Documents(RESELLER, page_size="A4").css


def test_a_folder_of_overrides_replaces_a_template(tmp_path: Path) -> None:
    (tmp_path / "invoice_subject.txt.j2").write_text("Your bill {{ doc.invoice_id }}\n")
    subject, body = Documents(RESELLER, overrides=tmp_path).mail_text(
        view_model(detail()), "invoice"
    )
    assert subject == "Your bill INV-202611-000007"
    assert "1,000.00" in body  # the body still comes from the built-in template


def test_reminder_text() -> None:
    subject, body = Documents(RESELLER).mail_text(view_model(detail()), "reminder")
    assert subject.startswith("Reminder: invoice INV-202611-000007")
    assert "payable on 2026-12-01" in body


def test_the_message_carries_the_pdf_and_a_fixed_message_id() -> None:
    msg = build_message("b@x.test", ["a@y.test"], "S", "B", "<r1@billport>", b"%PDF-1.7", "I.pdf")
    assert msg["Message-ID"] == "<r1@billport>" and msg["To"] == "a@y.test"
    (pdf,) = [p for p in msg.walk() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "I.pdf" and pdf.get_payload(decode=True) == b"%PDF-1.7"


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = Policy(max_attempts=6, retry_base_seconds=2, retry_max_seconds=10, lease_seconds=60)
    seconds = [policy.backoff(n).total_seconds() for n in range(1, 6)]
    assert seconds == [2, 4, 8, 10, 10]


ORG = {"name": "Fleet", "customer_emails": ["AP@x.test", "ceo@x.test"], "finance_emails": []}


def test_recipients_are_chosen_among_the_contacts() -> None:
    assert recipients_for("customer", [], ORG) == ["AP@x.test", "ceo@x.test"]
    assert recipients_for("customer", ["ap@x.test"], ORG) == ["ap@x.test"]
    with pytest.raises(ValidationFailed, match=r"stranger@x\.test"):
        recipients_for("customer", ["stranger@x.test"], ORG)
    with pytest.raises(ValidationFailed, match="no finance"):
        recipients_for("finance", [], ORG)


def test_a_document_built_from_known_figures_renders_them() -> None:
    """Figures worked out by hand: 2 x 1,234.50 = 2,469.00 regular; 150.5 GB over at 0.125 =
    18.81 (18.8125, half-up); a credit of -100.00; amount 2,387.81; 1,000.00 paid by wire and
    500.00 by cheque (reversed, not counted); balance 1,387.81."""
    doc = InvoiceDocument(
        invoice_id="INV-202612-000042",
        kind="SUBSCRIPTION",
        org_id="org_9",
        org_name="Harbour Pilots",
        period="2026-12",
        issued_on=date(2026, 12, 1),
        payable_on=date(2026, 12, 31),
        revision=2,
        status="PARTIAL_PAID",
        regular_charges=Decimal("2469.00"),
        additional_charges=Decimal("-81.19"),
        amount=Decimal("2387.81"),
        payments_total=Decimal("1000.00"),
        balance=Decimal("1387.81"),
        lines=(
            DocumentLine(
                type="REGULAR",
                description="Maritime 1 TB",
                quantity=Decimal(2),
                unit_price=Decimal("1234.5"),
                amount=Decimal("2469.00"),
            ),
            DocumentLine(
                type="OVERAGE",
                description="Over the pool",
                unit_price=Decimal("0.125"),
                usage_gb=Decimal("150.500000000"),
                amount=Decimal("18.81"),
            ),
            DocumentLine(type="ADJUSTMENT", description="Goodwill", amount=Decimal("-100")),
        ),
        payments=(
            DocumentPayment(received_on=date(2026, 12, 10), method="WIRE", amount=Decimal("1000")),
            DocumentPayment(
                received_on=date(2026, 12, 11),
                method="CHECK",
                reference="cheque 7",
                amount=Decimal("500"),
                reversed=True,
            ),
        ),
    )
    regular, overage, credit = doc.lines
    assert (regular.quantity_text, regular.unit_price_text) == ("2", "1234.50")
    assert (overage.usage_gb_text, overage.unit_price_text) == ("150.5", "0.125")
    assert credit.usage_gb_text is None and credit.unit_price_text == "0.00"
    assert [x.description for x in doc.additional_lines] == ["Over the pool", "Goodwill"]
    assert doc.status_text == "Partly paid"

    page = Documents(RESELLER).html(doc, inline_css=True)
    for text in (
        '<td class="num">2</td><td class="num">1234.50</td>',  # quantity, unit price
        '<td class="num">150.5 GB over</td>',  # usage GB, as people write it
        '<td class="num">2,469.00</td>',
        '<td class="num">18.81</td>',
        '<td class="num">-100.00</td>',
        '<td class="num">-81.19</td>',  # additional charges
        '<td class="num">USD 2,387.81</td>',  # invoice amount
        '<td class="num">1,000.00</td>',  # payments
        '<td class="num">USD 1,387.81</td>',  # balance due
        '<tr class="reversed"><td>2026-12-11</td><td>CHECK</td>',
        "revision 2",
        "<td>Payable on</td><td><strong>2026-12-31</strong>",
    ):
        assert text in page, text
    subject, body = Documents(RESELLER).mail_text(doc, "invoice")
    assert subject == "Invoice INV-202612-000042 from Orbit Resale for 2026-12"
    assert "Amount:      USD 2,387.81\nBalance due: USD 1,387.81\nPayable on:  2026-12-31" in body


def test_the_document_travels_as_json_and_reads_back_the_same() -> None:
    doc = view_model(detail())
    again = InvoiceDocument.model_validate_json(doc.model_dump_json())
    assert again == doc and again.amount == Decimal("1262.34")
    assert Documents(RESELLER).fingerprint(again) == Documents(RESELLER).fingerprint(doc)
