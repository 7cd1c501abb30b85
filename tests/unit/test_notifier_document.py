"""The invoice document's view model, templates and e-mail, without I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.invoicing.sending import recipients_for
from services.notifier.document import Documents, Reseller, grouped, view_model
from services.notifier.mailer import build_message
from services.notifier.sender import Policy
from shared.errors import ValidationFailed

RESELLER = Reseller("Orbit Resale", ("1 Main St", "Seattle"), "billing@orbit.test", ("IBAN X",))


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
    assert [grouped(x) for x in ("0.00", "4592.30", "-1234567.50")] == [
        "0.00",
        "4,592.30",
        "-1,234,567.50",
    ]


def test_lines_are_grouped_as_the_document_shows_them() -> None:
    doc = view_model(detail())
    assert [x["description"] for x in doc["regular_lines"]] == ["Plan A"]
    assert [x["description"] for x in doc["additional_lines"]] == ["Overage Oct"]
    assert [x["description"] for x in doc["usage_lines"]] == ["Member usage"]
    assert doc["amount"] == "1,262.34" and doc["status_text"] == "Partly paid"
    assert len(doc["payments"]) == 1  # an unapplied posting is not shown as paid


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
