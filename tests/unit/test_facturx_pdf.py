"""The invoice PDF is a PDF/A-3 carrying its Factur-X XML: rendered as the notifier's workers
render it (WeasyPrint PDF/A-3b, then the `factur-x` package embeds the CII), read back with
pypdf: the attachment named factur-x.xml in /AF and the EmbeddedFiles, the XMP declaring PDF/A
part 3 and the Factur-X EN 16931 conformance level, and the XML valid."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from lxml import etree
from pypdf import PdfReader

from services.notifier import cii
from services.notifier.document import Documents
from services.notifier.einvoice import invoice_edocument
from services.notifier.render_pool import PDF_VARIANT, embed_facturx
from tests.einvoice_rules import cii_problems
from tests.unit.test_einvoice_documents import SELLER, invoice

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PDFAID = "http://www.aiim.org/pdfa/ns/id/"
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"


def facturx_parts(pdf: bytes) -> tuple[bytes, Any, etree._Element]:
    """(the embedded factur-x.xml, the catalog, the XMP) of a PDF."""
    reader = PdfReader(io.BytesIO(pdf))
    catalog: Any = reader.trailer["/Root"]
    names = catalog["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == "factur-x.xml"
    (spec,) = [x.get_object() for x in catalog["/AF"]]
    assert spec["/F"] == "factur-x.xml" and spec["/AFRelationship"] == "/Data"
    xml = spec["/EF"]["/F"].get_object().get_data()
    xmp = etree.fromstring(catalog["/Metadata"].get_object().get_data())
    return xml, catalog, xmp


def test_the_pdf_is_pdf_a_3_with_a_valid_factur_x() -> None:
    import weasyprint

    doc = invoice(tax_rate="20", tax="383.65")
    documents = Documents(SELLER, currency="EUR")
    html = documents.html(doc, inline_css=False)
    plain = weasyprint.HTML(string=html).write_pdf(
        stylesheets=[weasyprint.CSS(string=documents.css)], pdf_variant=PDF_VARIANT
    )
    xml = cii.to_xml(invoice_edocument(doc, SELLER, "EUR"))
    pdf = embed_facturx(plain, xml, f"Invoice {doc.invoice_id}")

    embedded, _, xmp = facturx_parts(pdf)
    assert embedded == xml
    assert cii_problems(embedded) == []
    assert xmp.findtext(f".//{{{PDFAID}}}part") == "3"
    assert xmp.findtext(f".//{{{PDFAID}}}conformance") == "B"
    assert xmp.findtext(f".//{{{FX}}}ConformanceLevel") == "EN 16931"
    assert xmp.findtext(f".//{{{FX}}}DocumentFileName") == "factur-x.xml"
    assert xmp.findtext(f".//{{{FX}}}DocumentType") == "INVOICE"
    # the same invoice on paper and in the XML: 2,301.90 printed, 2301.90 the grand total
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "2,301.90" in text and doc.amount == Decimal("2301.90")
    assert b"<ram:GrandTotalAmount>2301.90</ram:GrandTotalAmount>" in embedded
