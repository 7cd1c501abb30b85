"""Billing details of both parties (issue 15): the organization's fields and their errors in our
words, the reseller's bank details, both parties on the document and in its e-mail, and GB
figures as people write them."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.notifier.document import Documents, Reseller, bank_lines
from services.notifier.main import NotifierSettings
from shared.api.catalog import OrganizationIn, OrganizationPatch
from shared.api.field_errors import field_errors
from shared.documents import Buyer, DocumentLine, InvoiceDocument, PostalAddress, tidy_gb
from shared.money import format_gb

ADDRESS = {"line1": "1 Dock Road", "city": "London", "postal_code": "E16 2QD", "country": "GB"}
BOTH = (
    "an organization has a tax rate or a tax exemption reason, not both"
    " (set tax_rate to null to exempt it)"
)


def errors_of(model: Any, body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(body))
    return field_errors(caught.value.errors())


def test_full_billing_details_are_taken_and_written_back_as_given() -> None:
    org = OrganizationIn.model_validate(
        {
            "name": "Harbour Pilots",
            "legal_name": "Harbour Pilots Ltd",
            "billing_address": {**ADDRESS, "line2": "Unit 4", "region": "Greater London"},
            "tax_id": "GB123456789",
            "tax_rate": "8.875",
        }
    )
    shown = org.model_dump(mode="json")
    assert shown["tax_rate"] == "8.875" and org.tax_rate == Decimal("8.875")
    assert shown["billing_address"]["country"] == "GB"
    assert (
        OrganizationIn(name="x", tax_rate=Decimal("20.0000")).model_dump(mode="json")["tax_rate"]
        == "20"
    )  # numeric(7,4) reads back padded; it is written as people write it
    assert OrganizationIn(name="Plain").legal_name is None  # all optional


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        (
            {"billing_address": {**ADDRESS, "country": "XX"}},
            "billing_address.country",
            "'XX' is not an ISO 3166-1 alpha-2 country code (such as GB, US or DE)",
        ),
        (
            {"billing_address": {**ADDRESS, "country": "gb"}},
            "billing_address.country",
            "'gb' is not an ISO 3166-1 alpha-2 country code (such as GB, US or DE)",
        ),
        ({"tax_rate": "100.5"}, "tax_rate", "must be a percentage from 0 to 100"),
        ({"tax_rate": "-1"}, "tax_rate", "must be a percentage from 0 to 100"),
        ({"tax_rate": "8.87501"}, "tax_rate", "must have at most 4 decimal places"),
        ({"tax_rate": "20", "tax_exempt_reason": "Reverse charge"}, "tax_exempt_reason", BOTH),
        ({"billing_address": {"line1": "x", "country": "GB"}}, "billing_address.city", "required"),
    ],
)
def test_bad_billing_details_are_refused_with_our_words(
    body: dict[str, Any], field: str, text: str
) -> None:
    assert errors_of(OrganizationIn, {"name": "x", **body}) == {field: text}
    assert errors_of(OrganizationPatch, body) == {field: text}


def test_a_patch_clears_billing_details_with_null_but_not_the_name() -> None:
    patch = OrganizationPatch.model_validate({"tax_rate": None, "tax_exempt_reason": "Exempt"})
    assert patch.model_dump(include=patch.model_fields_set) == {
        "tax_rate": None,
        "tax_exempt_reason": "Exempt",
    }
    assert errors_of(OrganizationPatch, {"name": None}) == {"body": "name cannot be null"}


def test_bank_details_are_checked() -> None:
    assert bank_lines("Orbit Bank", "de89370400440532013000", "COBADEFFXXX", None, None) == (
        "Bank: Orbit Bank",
        "IBAN: DE89 3704 0044 0532 0130 00",
        "BIC: COBADEFFXXX",
    )
    assert bank_lines(None, None, None, "000123456789", "021000021") == (
        "Account: 000123456789",
        "Routing (ABA): 021000021",
    )
    with pytest.raises(ValueError, match="the IBAN 'DE89370400440532013001' is not valid"):
        bank_lines(None, "DE89370400440532013001", None, None, None)
    with pytest.raises(ValueError, match="the BIC 'COBAXXFF' is not valid"):
        bank_lines(None, None, "COBAXXFF", None, None)
    with pytest.raises(ValueError, match="'021000022' is not a valid ABA routing number"):
        bank_lines(None, None, None, "1", "021000022")
    with pytest.raises(ValueError, match="not both"):
        bank_lines(None, "DE89370400440532013000", None, "1", None)


def test_the_notifier_refuses_to_start_with_a_bad_iban_and_keeps_its_demo_bank() -> None:
    with pytest.raises(ValidationError, match="the IBAN 'GB00XXXX' is not valid"):
        NotifierSettings(bank_iban="GB00XXXX")
    plain = NotifierSettings().reseller()
    assert plain.bank == () and plain.remit_to == (
        "Bank: First Orbital Bank",
        "Account: 000123456789",
        "Routing (ABA): 021000021",
    )
    eu = NotifierSettings(bank_iban="DE89370400440532013000", reseller_tax_id="DE123").reseller()
    assert eu.bank == ("IBAN: DE89 3704 0044 0532 0130 00",) and eu.remit_to == ()


def test_gb_figures_read_as_people_write_them() -> None:
    assert [
        format_gb(Decimal(x)) for x in ("72.345000000", "70.000000000", "0E-9", "0.123456789")
    ] == [
        "72.345",
        "70",
        "0",
        "0.123456789",  # never rounded away
    ]
    assert (
        tidy_gb("Overage 2026-10: 70.000000000 GB used, 66.667 GB included")
        == "Overage 2026-10: 70 GB used, 66.667 GB included"
    )
    over = DocumentLine(
        type="OVERAGE", description="x", usage_gb=Decimal("22.580000000"), amount=Decimal("2.82")
    )
    info = DocumentLine(
        type="USAGE_INFO", description="x", usage_gb=Decimal("72.345000000"), amount=Decimal(0)
    )
    assert (over.usage_text, info.usage_text) == ("22.58 GB over", "72.345 GB")


def document(buyer: Buyer | None) -> InvoiceDocument:
    return InvoiceDocument(
        invoice_id="INV-202612-000001",
        kind="SUBSCRIPTION",
        org_id="org_1",
        org_name="Harbour Pilots",
        period="2026-12",
        issued_on=date(2026, 12, 1),
        payable_on=date(2026, 12, 31),
        status="GENERATED",
        regular_charges=Decimal("100.00"),
        additional_charges=Decimal(0),
        amount=Decimal("100.00"),
        balance=Decimal("100.00"),
        lines=(
            DocumentLine(
                type="OVERAGE",
                description="Overage 2026-11: 70.000000000 GB used, 50 GB included",
                usage_gb=Decimal("20.000000000"),
                amount=Decimal("100.00"),
            ),
        ),
        buyer=buyer,
    )


SELLER = Reseller(
    "Orbit Resale",
    ("1 Main St", "Seattle, WA 98101"),
    "billing@orbit.test",
    (),
    legal_name="Orbit Resale LLC",
    tax_id="US 12-3456789",
    bank=("IBAN: DE89 3704 0044 0532 0130 00", "BIC: COBADEFFXXX"),
)


def test_both_parties_appear_on_the_document_and_in_the_mail() -> None:
    buyer = Buyer(
        legal_name="Harbour Pilots Ltd",
        address=PostalAddress(**ADDRESS, line2="Unit 4"),
        tax_id="GB123456789",
        tax_exempt_reason="Reverse charge",
    )
    doc = document(buyer)
    assert buyer.address is not None
    assert buyer.address.lines == ("1 Dock Road", "Unit 4", "London E16 2QD", "United Kingdom")
    page = Documents(SELLER).html(doc, inline_css=False)
    for text in (
        '<div class="buyer"><strong>Harbour Pilots Ltd</strong></div>',
        "<div>London E16 2QD</div>",
        "<div>United Kingdom</div>",
        "<div>Tax ID: GB123456789</div>",
        "<div>Tax exempt: Reverse charge</div>",
        "<div>Orbit Resale LLC</div>",
        "<div>Tax ID: US 12-3456789</div>",
        "<div>IBAN: DE89 3704 0044 0532 0130 00</div>",
        "<td>Overage 2026-11: 70 GB used, 50 GB included</td>",
        '<td class="num">20 GB over</td>',
    ):
        assert text in page, text
    assert "000000 GB" not in page
    _, body = Documents(SELLER).mail_text(doc, "invoice")
    assert (
        "Bill to:\n  Harbour Pilots Ltd\n  1 Dock Road\n  Unit 4\n  London E16 2QD\n"
        "  United Kingdom\n  Tax ID: GB123456789\n  Tax exempt: Reverse charge\n" in body
    )
    assert (
        "From:\n  Orbit Resale LLC\n  1 Main St\n  Seattle, WA 98101\n  Tax ID: US 12-3456789\n"
        in body
    )
    assert "Remit to:\n  IBAN: DE89 3704 0044 0532 0130 00\n  BIC: COBADEFFXXX\n" in body


def test_a_document_without_billing_details_bills_the_name() -> None:
    doc = document(None)
    assert doc.buyer_name == "Harbour Pilots"
    page = Documents(Reseller("Orbit", (), "b@o.test", ("Pay us",))).html(doc, inline_css=False)
    assert '<div class="buyer"><strong>Harbour Pilots</strong></div>' in page
    assert "Tax ID" not in page and "Tax exempt" not in page
    assert "<div>Orbit</div>" not in page  # no legal name beside the trading name
