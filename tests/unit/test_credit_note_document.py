"""The credit note document and e-mail, the invoice listing its credit notes, the seller's
structured address in the settings, and the cache key following the e-invoice settings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from services.notifier.document import Documents
from services.notifier.main import NotifierSettings
from shared.documents import CreditNoteDocument
from tests.unit.test_einvoice_documents import BUYER, SELLER, invoice


def credit_note(**changes: Any) -> CreditNoteDocument:
    base: dict[str, Any] = {
        "id": "CN-202611-000001",
        "invoice_id": "INV-202611-000123",
        "invoice_issued_on": "2026-11-01",
        "org_id": "org_mariner",
        "org_name": "Mariner",
        "issued_on": "2026-11-20",
        "reason": "Overage billed twice",
        "lines": [{"type": "OVERAGE", "description": "Overage 22.58 GB", "amount": "1100.00"}],
        "net": "1100.00",
        "tax": "97.63",  # 1100.00 x 8.875% = 97.625 -> 97.63
        "tax_rate": "8.875",
        "amount": "1197.63",
        "buyer": BUYER.model_dump(),
    }
    return CreditNoteDocument.model_validate({**base, **changes})


def test_the_credit_note_shows_both_parties_the_invoice_and_the_figures() -> None:
    page = Documents(SELLER).credit_note_html(credit_note(), inline_css=False)
    for text in (
        "Credit note CN-202611-000001",
        "for invoice INV-202611-000123 of 2026-11-01",
        "<div>Orbit Resale Ltd</div>",
        "<div>Tax ID: GB123456789</div>",
        '<div class="buyer"><strong>Mariner Shipping BV</strong></div>',
        "<div>Rotterdam 3011AA</div>",
        "<div>Tax ID: NL123456789B01</div>",
        "Overage billed twice",
        '<td class="num">1,100.00</td>',
        "<td>Tax (8.875%)</td>",
        '<td class="num">97.63</td>',
        "USD 1,197.63",
    ):
        assert text in page, text
    exempt = credit_note(tax="0.00", tax_rate=None, tax_exempt_reason="Reverse charge")
    assert "Tax exempt: Reverse charge" in Documents(SELLER).credit_note_html(exempt, False)


def test_the_credit_note_mail() -> None:
    # the invoice after the credit: 2301.90 - 301.90 paid - 1197.63 credited = 802.37
    doc = invoice(
        tax_rate="20", tax="383.65", payments_total="301.90", credited="1197.63",
        balance="802.37",
    )  # fmt: skip
    subject, body = Documents(SELLER).mail_text(doc, "credit_note", credit_note())
    assert subject == (
        "Credit note CN-202611-000001 from Orbit Resale for invoice INV-202611-000123"
    )
    assert "Total credited:  USD 1,197.63" in body
    assert "Invoice balance: USD 802.37 (after this credit)" in body
    assert "Reason:          Overage billed twice" in body


def test_the_invoice_lists_its_credit_notes_and_the_balance_after_them() -> None:
    note = {"id": "CN-202611-000001", "issued_on": "2026-11-20", "reason": "Billed twice",
            "amount": "1197.63"}  # fmt: skip
    doc = invoice(
        tax_rate="20", tax="383.65", credited="1197.63", credit_notes=[note],
        balance="1104.27",
    )  # fmt: skip
    page = Documents(SELLER).html(doc, inline_css=False)
    assert '<tr class="credited"><td>Credited</td><td class="num">1,197.63</td></tr>' in page
    assert "<td>CN-202611-000001</td><td>2026-11-20</td>" in page
    assert "USD 1,104.27" in page
    assert "Credited" not in Documents(SELLER).html(invoice(), inline_css=False)


def test_the_cache_key_follows_the_e_invoice_settings() -> None:
    doc = invoice()
    key = Documents(SELLER).fingerprint(doc)
    assert Documents(SELLER).fingerprint(doc) == key
    assert Documents(replace(SELLER, endpoint=("0088", "4000001000005"))).fingerprint(doc) != key
    assert Documents(replace(SELLER, iban=None)).fingerprint(doc) != key


def test_the_seller_address_is_structured_and_printed_as_before() -> None:
    seller = NotifierSettings().reseller()
    assert seller.address == ("100 Orbit Way", "Suite 400", "Seattle, WA 98101", "United States")
    assert seller.postal is not None and (seller.postal.city, seller.postal.country) == (
        "Seattle",
        "US",
    )
    printed = NotifierSettings(reseller_address="1 Quay|Cork").reseller()
    assert printed.address == ("1 Quay", "Cork")
    moved = NotifierSettings(reseller_country="ie", reseller_peppol_id="0088:5790000435975")
    assert moved.reseller().postal.country == "IE"  # type: ignore[union-attr]
    assert moved.reseller().endpoint == ("0088", "5790000435975")
    with pytest.raises(ValidationError, match="ISO 3166-1 alpha-2"):
        NotifierSettings(reseller_country="XX")
    with pytest.raises(ValidationError, match="EAS scheme"):
        NotifierSettings(reseller_peppol_id="GLN5790000435975")
