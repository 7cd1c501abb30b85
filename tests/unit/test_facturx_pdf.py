"""The invoice PDF is a PDF/A-3b carrying its Factur-X XML, written in one WeasyPrint pass as the
notifier's workers write it, read back with pypdf and with the `factur-x` package's own reader:
the attachment named factur-x.xml in the EmbeddedFiles and, once, in the catalog's /AF with
AFRelationship /Data; one XMP packet declaring PDF/A part 3 conformance B and the Factur-X
properties (EN 16931) with their PDF/A extension schema; and the XML read back the same, valid."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import facturx
from lxml import etree
from pypdf import PdfReader
from weasyprint import CSS
from weasyprint.text.fonts import FontConfiguration

from services.notifier import cii, facturx_pdf
from services.notifier.document import Documents
from services.notifier.einvoice import invoice_edocument
from tests.einvoice_rules import cii_problems
from tests.unit.test_einvoice_documents import SELLER, invoice

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PDFAID = "http://www.aiim.org/pdfa/ns/id/"
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
PDFA_SCHEMA = "http://www.aiim.org/pdfa/ns/schema#"
PDFA_PROPERTY = "http://www.aiim.org/pdfa/ns/property#"


def xmp_of(catalog: Any) -> etree._Element:
    """The XMP's rdf:RDF, each property written as an attribute of its rdf:Description (as
    WeasyPrint writes pdfaid:part) also given as an element: RDF/XML holds both forms the same,
    and the tests read one."""
    packet = etree.fromstring(catalog["/Metadata"].get_object().get_data())
    (rdf,) = packet.findall(f"{{{RDF}}}RDF")  # one: XMP readers read the first only
    for description in rdf.iterfind(f"{{{RDF}}}Description"):
        for name, value in description.attrib.items():
            if not name.startswith((f"{{{RDF}}}", "{http://www.w3.org/XML/1998/namespace}")):
                etree.SubElement(description, name).text = value
    return rdf


def facturx_parts(pdf: bytes) -> tuple[bytes, Any, etree._Element]:
    """(the embedded factur-x.xml, the catalog, the XMP) of a PDF, checking the attachment is
    there once, in the EmbeddedFiles and in /AF, as Factur-X wants it."""
    catalog: Any = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    names = catalog["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "factur-x.xml" and len(names) == 2
    (listed,) = catalog["/AF"]
    assert listed.idnum == names[1].idnum  # the same file specification
    spec = listed.get_object()
    assert spec["/F"] == spec["/UF"] == "factur-x.xml"
    assert spec["/AFRelationship"] == "/Data"
    stream = spec["/EF"]["/F"].get_object()
    assert stream["/Subtype"] == "/text/xml" and "/ModDate" in stream["/Params"]
    return stream.get_data(), catalog, xmp_of(catalog)


def rendered(xml: bytes | None) -> tuple[bytes, str]:
    """The PDF of the test invoice as the workers render it, and its HTML."""
    documents = Documents(SELLER, currency="EUR")
    html = documents.html(invoice(tax_rate="20", tax="383.65"), inline_css=False)
    fonts = FontConfiguration()
    return facturx_pdf.write_pdf(
        html, xml, CSS(string=documents.css, font_config=fonts), fonts
    ), html


def test_the_pdf_is_pdf_a_3_with_a_valid_factur_x() -> None:
    doc = invoice(tax_rate="20", tax="383.65")
    xml = cii.to_xml(invoice_edocument(doc, SELLER, "EUR"))
    pdf, _ = rendered(xml)

    embedded, catalog, xmp = facturx_parts(pdf)
    assert embedded == xml
    assert cii_problems(embedded) == []
    # the package's own reader finds it, checking it against the Factur-X EN16931 schema
    assert facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True) == ("factur-x.xml", xml)
    assert xmp.findtext(f".//{{{PDFAID}}}part") == "3"
    assert xmp.findtext(f".//{{{PDFAID}}}conformance") == "B"
    assert xmp.findtext(f".//{{{FX}}}ConformanceLevel") == "EN 16931"
    assert xmp.findtext(f".//{{{FX}}}DocumentFileName") == "factur-x.xml"
    assert xmp.findtext(f".//{{{FX}}}DocumentType") == "INVOICE"
    assert xmp.findtext(f".//{{{FX}}}Version") == "1.0"
    # PDF/A: every fx: property used is described by the extension schema in the XMP
    (schema,) = [
        s for s in xmp.iter(f"{{{RDF}}}li") if s.findtext(f"{{{PDFA_SCHEMA}}}namespaceURI") == FX
    ]
    assert schema.findtext(f"{{{PDFA_SCHEMA}}}prefix") == "fx"
    described = {x.text for x in schema.iter(f"{{{PDFA_PROPERTY}}}name")}
    used = {etree.QName(x).localname for x in xmp.iter(f"{{{FX}}}*")}
    assert used == described == {"ConformanceLevel", "DocumentFileName", "DocumentType", "Version"}
    # an independent XMP reader sees the same PDF/A identification, and the title of the Info
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.xmp_metadata is not None
    assert (reader.xmp_metadata.pdfaid_part, reader.xmp_metadata.pdfaid_conformance) == ("3", "B")
    assert reader.metadata is not None
    assert reader.xmp_metadata.dc_title == {"x-default": reader.metadata.title}
    assert reader.metadata.title == "Invoice INV-202611-000123 · Mariner"
    assert catalog["/OutputIntents"][0]["/S"] == "/GTS_PDFA1"  # PDF/A's colour intent
    # the same invoice on paper and in the XML: 2,301.90 printed, 2301.90 the grand total
    assert "2,301.90" in reader.pages[0].extract_text() and doc.amount == Decimal("2301.90")
    assert b"<ram:GrandTotalAmount>2301.90</ram:GrandTotalAmount>" in embedded


def test_without_its_xml_the_pdf_is_a_plain_pdf_a_3() -> None:
    pdf, _ = rendered(None)
    catalog: Any = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    assert "/AF" not in catalog and "/Names" not in catalog
    xmp = xmp_of(catalog)
    assert xmp.findtext(f".//{{{PDFAID}}}part") == "3"
    assert list(xmp.iter(f"{{{FX}}}*")) == []
    assert facturx.get_facturx_xml_from_pdf(pdf, check_xsd=False) == (False, False)
