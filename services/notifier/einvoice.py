"""An invoice or credit note document as an EN 16931 e-invoice (`ubl.EDocument`, written as UBL
by `ubl.to_xml` and as Factur-X CII by `cii.to_xml`): the seller from the reseller settings,
the buyer from the organization's billing details, the lines billed, and the tax category the
invoice's terms come to. Pure: no I/O.

Choices, and why:
- USAGE_INFO lines (sub-pool members' usage, amount 0) are left out: they are shown for
  monitoring and bill nothing; an e-invoice line is an item invoiced (BG-25), and a buyer's
  system would book them as zero-priced purchases. The PDF still shows them.
- A line whose quantity x unit price is not its amount (an edited or adjustment line) is one
  unit at its amount; a negative line (a correction) is -1 unit at the positive price, since
  EN 16931 allows negative line amounts but no negative price (BR-27).
- Tax category (UNCL5305): a rate above 0 is S; an exemption reason is AE when it says reverse
  charge and the buyer has a tax id (BR-AE-02), E otherwise, with the reason (BT-120); a rate
  of 0 is Z; no rate and no reason (an untaxed invoice) is O, "not subject to VAT", whose rules
  (BR-O-02) bar VAT ids: the seller's tax id is then given as a tax registration (BT-32) and
  the buyer's is left out. A seller tax id without a country prefix (a US EIN) is BT-32 too,
  and also the seller identifier (BT-29), as BR-CO-26 wants one of BT-29, BT-30, BT-31.
- Without the seller's tax id or the buyer's billing address there is no EN 16931 invoice:
  EInvoiceError says which is missing (the UBL route answers 409; the PDF goes without).
- Peppol BIS also wants the buyer's Peppol address (BT-49, rule PEPPOL-EN16931-R010); the
  billing details hold none yet, so it is given only when a caller knows it.
- Payments already received are the prepaid amount (BT-113): the amount due (BT-115) is the
  invoice's amount less its payments. Credit notes are their own documents and credit the
  invoice from there, so they are not deducted here.
"""

from __future__ import annotations

import re
from decimal import Decimal

from services.notifier.document import Reseller
from services.notifier.ubl import Address, EDocument, Line, Party, Tax, totals
from shared.documents import (
    Buyer,
    CreditNoteDocument,
    DocumentLine,
    InvoiceDocument,
    PostalAddress,
    money_text,
)
from shared.errors import Conflict
from shared.money import round_cents

REVERSE_CHARGE = re.compile(
    r"reverse[\s-]*charge|autoliquidation|Steuerschuldnerschaft|inversi[oó]n del sujeto pasivo",
    re.IGNORECASE,
)
VAT_ID = re.compile(r"^[A-Z]{2}[A-Z0-9+*.\- ]+$")
"""A VAT identifier starts with its country's code (BR-CO-09); a US EIN does not."""
NOT_SUBJECT = "Not subject to VAT"


class EInvoiceError(Conflict):
    """The document cannot be written as an EN 16931 e-invoice: the buyer has no billing
    address (BR-10, BR-11), or its figures do not add up as EN 16931 computes them."""


def tax_of(rate: Decimal | None, exempt_reason: str | None, buyer: Buyer | None) -> Tax:
    if exempt_reason:
        reverse = REVERSE_CHARGE.search(exempt_reason) and buyer is not None and buyer.tax_id
        return Tax("AE" if reverse else "E", Decimal(0), exempt_reason)
    if rate is None:
        return Tax("O", Decimal(0), NOT_SUBJECT)
    return Tax("S" if rate > 0 else "Z", rate)


def _address(postal: PostalAddress) -> Address:
    return Address(
        postal.line1,
        postal.city,
        postal.country,
        line2=postal.line2,
        postal_code=postal.postal_code,
        region=postal.region,
    )


def seller_party(number: str, reseller: Reseller, tax: Tax) -> Party:
    tax_id = reseller.tax_id
    if not tax_id or reseller.postal is None:
        raise EInvoiceError(
            f"{number} cannot be written as an e-invoice: the seller has no tax id (EN 16931"
            " requires one); set BILLPORT_NOTIFIER_RESELLER_TAX_ID"
        )
    vat = bool(VAT_ID.match(tax_id)) and tax.category != "O"
    return Party(
        reseller.shown_legal_name,
        _address(reseller.postal),
        tax_id=tax_id,
        vat=vat,
        endpoint=reseller.endpoint,
        identifier=None if vat else tax_id,
    )


def buyer_party(
    number: str, name: str, buyer: Buyer | None, tax: Tax, endpoint: tuple[str, str] | None
) -> Party:
    if buyer is None or buyer.address is None:
        raise EInvoiceError(
            f"{number} cannot be written as an e-invoice: its buyer has no billing address"
            " (EN 16931 requires one); set the organization's billing details"
        )
    # BR-O-02: no buyer VAT id on an invoice not subject to VAT.
    tax_id = None if tax.category == "O" else buyer.tax_id
    if endpoint is None and buyer.peppol_id:
        scheme, _, identifier = buyer.peppol_id.partition(":")
        endpoint = (scheme, identifier)  # Peppol R010: the buyer's electronic address
    return Party(name, _address(buyer.address), tax_id=tax_id, endpoint=endpoint)


def line_of(line: DocumentLine) -> Line:
    amount = line.amount
    quantity, price = line.quantity, line.unit_price
    if price < 0 or round_cents(quantity * price) != amount:
        quantity, price = (Decimal(-1), -amount) if amount < 0 else (Decimal(1), amount)
    unit = "E34" if line.usage_gb is not None and line.usage_gb == quantity else "C62"
    return Line(line.description_text, quantity.normalize(), price, amount, unit)


def _billed(lines: tuple[DocumentLine, ...]) -> list[Line]:
    return [line_of(x) for x in lines if x.type != "USAGE_INFO"]


def _check(doc: EDocument, net: Decimal, tax: Decimal, what: str) -> None:
    figures = totals(doc)
    if (figures.net, figures.tax) != (net, tax):
        raise EInvoiceError(
            f"{what} cannot be written as an e-invoice: its lines come to"
            f" {money_text(figures.net)} net and {money_text(figures.tax)} tax,"
            f" but it shows {money_text(net)} and {money_text(tax)}"
        )


def invoice_edocument(
    doc: InvoiceDocument,
    reseller: Reseller,
    currency: str,
    buyer_endpoint: tuple[str, str] | None = None,
) -> EDocument:
    """The invoice as EN 16931 describes it; `buyer_endpoint` is the buyer's Peppol address
    when one is known (the billing details do not hold one yet)."""
    tax = tax_of(doc.tax_rate, doc.tax_exempt_reason, doc.buyer)
    edoc = EDocument(
        number=doc.invoice_id,
        issued_on=doc.issued_on,
        seller=seller_party(doc.invoice_id, reseller, tax),
        buyer=buyer_party(doc.invoice_id, doc.buyer_name, doc.buyer, tax, buyer_endpoint),
        lines=_billed(doc.lines),
        tax=tax,
        currency=currency,
        due_on=doc.payable_on,
        buyer_reference=doc.org_id,
        iban=reseller.iban,
        bic=reseller.bic,
        account_number=reseller.account_number,
        prepaid=doc.payments_total,
    )
    _check(edoc, doc.regular_charges + doc.additional_charges, doc.tax, doc.invoice_id)
    return edoc


def credit_note_edocument(
    note: CreditNoteDocument,
    reseller: Reseller,
    currency: str,
    buyer_endpoint: tuple[str, str] | None = None,
) -> EDocument:
    """The credit note as EN 16931 describes it: positive amounts, pointing to its invoice."""
    tax = tax_of(note.tax_rate, note.tax_exempt_reason, note.buyer)
    edoc = EDocument(
        number=note.id,
        issued_on=note.issued_on,
        seller=seller_party(note.id, reseller, tax),
        buyer=buyer_party(note.id, note.buyer_name, note.buyer, tax, buyer_endpoint),
        lines=_billed(note.lines),
        tax=tax,
        currency=currency,
        buyer_reference=note.org_id,
        credit_note_for=note.invoice_id,
        credited_invoice_issued_on=note.invoice_issued_on,
        notes=[note.reason],
    )
    _check(edoc, note.net, note.tax, note.id)
    return edoc
