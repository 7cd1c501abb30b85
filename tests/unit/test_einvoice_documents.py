"""Invoice and credit note documents as e-invoices: UBL 2.1 (Peppol BIS Billing 3.0) and
Factur-X CII, built from the documents the invoicing service sends, with figures computed here
by hand, each validated against its schema and the EN 16931 (and Peppol) business rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

from services.notifier import cii, ubl
from services.notifier.document import Reseller
from services.notifier.einvoice import EInvoiceError, credit_note_edocument, invoice_edocument
from shared.documents import Buyer, CreditNoteDocument, InvoiceDocument, PostalAddress
from tests.einvoice_rules import cii_problems, failed_rules, ubl_problems

SELLER = Reseller(
    "Orbit Resale",
    ("1 Harbour Road", "Southampton SO14 2AQ", "United Kingdom"),
    "billing@orbit.test",
    (),
    legal_name="Orbit Resale Ltd",
    tax_id="GB123456789",
    postal=PostalAddress(
        line1="1 Harbour Road", city="Southampton", postal_code="SO14 2AQ", country="GB"
    ),
    iban="GB33BUKB20201555555555",
    bic="BUKBGB22",
    endpoint=("0088", "5790000435975"),
)
BUYER = Buyer(
    legal_name="Mariner Shipping BV",
    address=PostalAddress(
        line1="Kade 7", line2="Dock 3", city="Rotterdam", postal_code="3011AA", country="NL"
    ),
    tax_id="NL123456789B01",
)
BUYER_ENDPOINT = ("9944", "NL123456789B01")  # the billing details hold no Peppol id yet
UBL = {"ubl": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", **ubl.NS}
CII = cii.NS
LINES: list[dict[str, Any]] = [
    {"type": "REGULAR", "description": "Plan Maritime 1TB, 2026-11", "amount": "1450.00",
     "quantity": "1", "unit_price": "1450.00"},
    # 22.58 GB x 20.7375 = 468.24675 -> 468.25
    {"type": "OVERAGE", "description": "Overage 22.58 GB", "amount": "468.25",
     "quantity": "22.58", "unit_price": "20.7375", "usage_gb": "22.58"},
    {"type": "USAGE_INFO", "description": "Vessel 7 used 312 GB", "amount": "0.00",
     "usage_gb": "312"},
]  # fmt: skip


def invoice(**changes: Any) -> InvoiceDocument:
    base: dict[str, Any] = {
        "invoice_id": "INV-202611-000123",
        "kind": "SUBSCRIPTION",
        "org_id": "org_mariner",
        "org_name": "Mariner",
        "period": "2026-11",
        "issued_on": "2026-11-01",
        "payable_on": "2026-12-01",
        "status": "GENERATED",
        "regular_charges": "1450.00",
        "additional_charges": "468.25",
        "lines": LINES,
        "buyer": BUYER.model_dump(),
    }
    base.update(changes)
    amount = Decimal(base["regular_charges"]) + Decimal(base["additional_charges"])
    amount += Decimal(base.get("tax", "0"))
    base.setdefault("amount", str(amount))
    base.setdefault("balance", str(amount - Decimal(base.get("payments_total", "0"))))
    return InvoiceDocument.model_validate(base)


def texts(xml: bytes, path: str, ns: dict[str, str]) -> list[str]:
    return [str(x.text) for x in etree.fromstring(xml).findall(path, ns)]


def both(doc: InvoiceDocument) -> tuple[bytes, bytes]:
    """The UBL and CII of `doc`, both valid."""
    edoc = invoice_edocument(doc, SELLER, "EUR", BUYER_ENDPOINT)
    as_ubl, as_cii = ubl.to_xml(edoc), cii.to_xml(edoc)
    assert ubl_problems(as_ubl) == []
    assert cii_problems(as_cii) == []
    return as_ubl, as_cii


def test_one_rate_with_a_payment_received() -> None:
    # net 1450.00 + 468.25 = 1918.25; 20% = 383.65; amount 2301.90; paid 301.90 -> 2000.00 due
    doc = invoice(tax_rate="20", tax="383.65", payments_total="301.90")
    as_ubl, as_cii = both(doc)
    total = "cac:LegalMonetaryTotal/cbc:"
    assert [texts(as_ubl, total + x, UBL)[0] for x in (
        "LineExtensionAmount", "TaxInclusiveAmount", "PrepaidAmount", "PayableAmount"
    )] == ["1918.25", "2301.90", "301.90", "2000.00"]  # fmt: skip
    assert texts(as_ubl, "cac:TaxTotal/cbc:TaxAmount", UBL) == ["383.65"]
    assert texts(as_ubl, ".//cac:TaxSubtotal/cac:TaxCategory/cbc:ID", UBL) == ["S"]
    # the monitoring line is not billed: two lines, the overage in gigabytes
    assert texts(as_ubl, "cac:InvoiceLine/cbc:InvoicedQuantity", UBL) == ["1", "22.58"]
    found = etree.fromstring(as_ubl).findall("cac:InvoiceLine/cbc:InvoicedQuantity", UBL)
    assert [x.get("unitCode") for x in found] == ["C62", "E34"]
    assert texts(as_ubl, "cbc:BuyerReference", UBL) == ["org_mariner"]
    summary = ".//ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:"
    assert [texts(as_cii, summary + x, CII)[0] for x in (
        "TaxBasisTotalAmount", "TaxTotalAmount", "GrandTotalAmount", "TotalPrepaidAmount",
        "DuePayableAmount",
    )] == ["1918.25", "383.65", "2301.90", "301.90", "2000.00"]  # fmt: skip


def test_a_rate_with_three_decimals() -> None:
    # 1918.25 x 8.875% = 170.2446875 -> 170.24 (half-up, once); amount 2088.49
    doc = invoice(tax_rate="8.875", tax="170.24")
    as_ubl, as_cii = both(doc)
    assert texts(as_ubl, ".//cac:TaxSubtotal/cac:TaxCategory/cbc:Percent", UBL) == ["8.875"]
    assert texts(as_ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount", UBL) == ["2088.49"]
    assert texts(as_cii, ".//ram:GrandTotalAmount", CII) == ["2088.49"]


def test_an_exempt_buyer() -> None:
    reason = "Exempt: services to ships on the high seas"
    doc = invoice(tax_exempt_reason=reason)
    as_ubl, as_cii = both(doc)
    assert texts(as_ubl, ".//cac:TaxSubtotal/cac:TaxCategory/cbc:ID", UBL) == ["E"]
    assert texts(as_ubl, ".//cbc:TaxExemptionReason", UBL) == [reason]
    assert texts(as_ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount", UBL) == ["1918.25"]
    assert texts(as_cii, ".//ram:ExemptionReason", CII) == [reason]


def test_reverse_charge() -> None:
    reason = "Reverse charge: VAT to be accounted for by the recipient"
    as_ubl, as_cii = both(invoice(tax_exempt_reason=reason))
    assert texts(as_ubl, ".//cac:TaxSubtotal/cac:TaxCategory/cbc:ID", UBL) == ["AE"]
    assert texts(as_ubl, "cac:TaxTotal/cbc:TaxAmount", UBL) == ["0.00"]
    assert texts(as_cii, ".//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/"
                 "ram:CategoryCode", CII) == ["AE"]  # fmt: skip


def test_a_negative_adjustment_line() -> None:
    # 1918.25 - 118.25 = 1800.00 net; 20% = 360.00; amount 2160.00
    goodwill = {"type": "ADJUSTMENT", "description": "Goodwill, October outage",
                "amount": "-118.25"}  # fmt: skip
    doc = invoice(
        lines=[*LINES, goodwill], additional_charges="350.00", tax_rate="20", tax="360.00"
    )
    as_ubl, as_cii = both(doc)
    assert texts(as_ubl, "cac:InvoiceLine/cbc:LineExtensionAmount", UBL)[-1] == "-118.25"
    # no negative price (BR-27): minus one unit at 118.25
    assert texts(as_ubl, "cac:InvoiceLine/cbc:InvoicedQuantity", UBL)[-1] == "-1"
    assert texts(as_ubl, "cac:InvoiceLine/cac:Price/cbc:PriceAmount", UBL)[-1] == "118.25"
    assert texts(as_ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount", UBL) == ["2160.00"]
    assert texts(as_cii, ".//ram:LineTotalAmount", CII)[-2:] == ["-118.25", "1800.00"]


def test_an_untaxed_invoice_is_not_subject_to_vat() -> None:
    as_ubl, _ = both(invoice())
    assert texts(as_ubl, ".//cac:TaxSubtotal/cac:TaxCategory/cbc:ID", UBL) == ["O"]
    # BR-O-02: no VAT ids; the seller's id is its tax registration, the buyer's left out
    assert texts(as_ubl, ".//cac:PartyTaxScheme/cac:TaxScheme/cbc:ID", UBL) == ["TAX"]


def test_a_credit_note() -> None:
    # 100.00 credited at 20% = 20.00 tax; 120.00 in all
    note = CreditNoteDocument.model_validate(
        {
            "id": "CN-202611-000001",
            "invoice_id": "INV-202611-000123",
            "invoice_issued_on": "2026-11-01",
            "org_id": "org_mariner",
            "org_name": "Mariner",
            "issued_on": "2026-11-20",
            "reason": "Overage billed twice",
            "lines": [
                {"type": "OVERAGE", "description": "Overage billed twice", "amount": "100.00"}
            ],
            "net": "100.00",
            "tax": "20.00",
            "tax_rate": "20",
            "amount": "120.00",
            "buyer": BUYER.model_dump(),
        }
    )
    edoc = credit_note_edocument(note, SELLER, "EUR", BUYER_ENDPOINT)
    as_ubl, as_cii = ubl.to_xml(edoc), cii.to_xml(edoc)
    assert ubl_problems(as_ubl) == [] and cii_problems(as_cii) == []
    ns = {**ubl.NS, "cn": ubl.NS["CreditNote"]}
    assert etree.fromstring(as_ubl).tag == f"{{{ubl.NS['CreditNote']}}}CreditNote"
    assert texts(as_ubl, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", ns) == [
        "INV-202611-000123"
    ]
    assert texts(as_ubl, "cac:BillingReference//cbc:IssueDate", ns) == ["2026-11-01"]
    assert texts(as_ubl, "cac:LegalMonetaryTotal/cbc:PayableAmount", ns) == ["120.00"]
    assert texts(as_ubl, "cac:CreditNoteLine/cbc:LineExtensionAmount", ns) == ["100.00"]
    assert texts(as_cii, ".//rsm:ExchangedDocument/ram:TypeCode", CII) == ["381"]
    assert texts(as_cii, ".//ram:InvoiceReferencedDocument/ram:IssuerAssignedID", CII) == [
        "INV-202611-000123"
    ]


def test_a_buyer_without_address_cannot_be_e_invoiced() -> None:
    with pytest.raises(EInvoiceError, match="no billing address"):
        invoice_edocument(invoice(buyer=None), SELLER, "EUR")


def test_figures_that_do_not_add_up_are_refused() -> None:
    with pytest.raises(EInvoiceError, match=r"383\.65 tax"):
        invoice_edocument(invoice(tax_rate="20", tax="383.66"), SELLER, "EUR")


def test_the_validators_are_real() -> None:
    """A document the rules must reject is rejected: the checks above mean something."""
    as_ubl = ubl.to_xml(invoice_edocument(invoice(tax_rate="20", tax="383.65"), SELLER, "EUR"))
    broken = as_ubl.replace(b">383.65<", b">383.66<")
    assert "BR-CO-15" in {rule for rule, _ in failed_rules(broken, "cen-ubl")}
    # without the buyer's Peppol address, Peppol (not EN 16931) refuses it
    assert {rule for rule, _ in failed_rules(as_ubl, "peppol")} == {"PEPPOL-EN16931-R010"}
    as_cii = cii.to_xml(invoice_edocument(invoice(tax_rate="20", tax="383.65"), SELLER, "EUR"))
    broken_cii = as_cii.replace(b">383.65<", b">383.66<", 1)
    assert failed_rules(broken_cii, "facturx") != []


def test_the_buyers_peppol_id_from_its_billing_details_is_its_electronic_address() -> None:
    # As the routes build it: no endpoint passed, the organization's Peppol id known.
    doc = invoice(
        tax_rate="20", tax="383.65", buyer={**BUYER.model_dump(), "peppol_id": "0088:5790000435975"}
    )
    as_ubl = ubl.to_xml(invoice_edocument(doc, SELLER, "EUR"))
    assert ubl_problems(as_ubl) == []
    found = etree.fromstring(as_ubl).find(
        "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID", UBL
    )
    assert found is not None
    assert (found.text, found.get("schemeID")) == ("5790000435975", "0088")
