"""Invoice documents: PDFs rendered per second by the notifier's worker pool, its time per
document against bare WeasyPrint on the same HTML, and a repeat download of an unchanged
invoice through the gateway. The invoice has 30 lines of every kind (two US Letter pages) and a
buyer with billing details, so every PDF carries its Factur-X; distinct documents are made by
varying the organization's name, so none comes from the cache.

Like with like: the notifier writes PDF/A-3b, so the bare WeasyPrint it is compared with writes
PDF/A-3b too (`pdf_overhead_ratio`: what the notifier adds, the Factur-X embedding included);
the cost of PDF/A itself is printed apart (`pdf_a_vs_plain_ratio`), and so is what the Factur-X
adds per document (`facturx_ms`): its CII built, and the PDF rendered with it attached against
the same PDF without.

What our template costs (`pdf_template_vs_plain`): the invoice's bare PDF/A-3b render over that
of a plain document with the same text and rows (`pdf_plain.html.j2`, a minimal stylesheet, the
same number of pages), each pair back to back in alternating order, the median taken.

`python -m bench.pdf` runs this part alone on a stack of its own (slot BILLPORT_TEST_SLOT,
default 2, folder .local/bench-pdf-<slot>)."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jinja2
from pypdf import PdfReader

from bench.report import figure, progress
from services.notifier import cii
from services.notifier.document import Documents
from services.notifier.einvoice import invoice_edocument
from services.notifier.facturx_pdf import PDF_VARIANT, write_pdf
from services.notifier.main import NotifierSettings
from shared.documents import InvoiceDocument, money_text
from shared.internal_auth import HEADER, Caller, sign

SELLER_TAX_ID = "91-1234567"
"""The bench stack's seller tax id (EN 16931 requires one for the Factur-X)."""
BUYER: dict[str, Any] = {
    "legal_name": "PDF Fleet Shipping Ltd",
    "billing_address": {"line1": "9 Quay St", "city": "Glasgow", "postal_code": "G1 1AA",
                        "country": "GB"},
    "tax_id": "GB123456789",
    "tax_rate": "20",
}  # fmt: skip


PLAIN_CSS = """@page { size: __PAGE_SIZE__; margin: 16mm 15mm 18mm 15mm; }
html { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; }
p { margin: 0; }
table { width: 100%; }"""
"""The stylesheet of the plain document (`pdf_plain.html.j2`): our paper, margins and font, and
nothing else."""


def plain_html(doc: InvoiceDocument, documents: Documents) -> str:
    """The plain HTML of `doc` (`pdf_plain.html.j2`): the invoice's text and rows, none of our
    layout: what any PDF of this content costs WeasyPrint."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["money"] = money_text
    return env.get_template("pdf_plain.html.j2").render(
        doc=doc, reseller=documents.reseller, currency=documents.currency
    )


@dataclass(frozen=True)
class PdfFigures:
    renders_per_s: float
    overhead_ratio: float
    cached_ms: float
    cached_p99_ms: float
    pages: int
    facturx_ms: float
    pdf_a_ratio: float
    template_ratio: float
    """`pdf_template_vs_plain`: the median, over the documents, of our template's bare render
    over the plain document's (`plain_html`), rendered back to back."""


def thirty_lines() -> list[dict[str, Any]]:
    kinds = ("REGULAR", "OVERAGE", "ADJUSTMENT", "USAGE_INFO")
    return [
        {
            "type": kinds[n % 4],
            "description": f"{kinds[n % 4].title()} item {n:02d} for the vessel fleet",
            "amount": "0.00" if kinds[n % 4] == "USAGE_INFO" else f"{(n + 1) * 41}.{n:02d}",
            "service_line_number": f"AST-{n:06d}-00000-01",
            "service_line_name": f"Vessel {n:02d}",
            **({"usage_gb": f"{n}.125"} if kinds[n % 4] in ("OVERAGE", "USAGE_INFO") else {}),
        }
        for n in range(30)
    ]


async def an_invoice(client: httpx.AsyncClient) -> dict[str, Any]:
    t = uuid.uuid4().hex[:6]
    org = (
        await client.post("/api/v1/organizations", json={"name": f"PDF fleet {t}", **BUYER})
    ).json()
    product = (
        await client.post("/api/v1/products", json={"name": f"PDF kit {t}", "unit_price": "1"})
    ).json()
    order = await client.post(
        "/api/v1/product-orders",
        json={
            "org_id": org["id"],
            "ordered_on": "2026-11-02",
            "items": [{"product_id": product["id"], "quantity": 1}],
        },
    )
    number = order.json()["invoice_id"]
    edited = await client.patch(
        f"/api/v1/invoices/{number}", json={"lines": thirty_lines(), "reason": "bench"}
    )
    edited.raise_for_status()
    detail = dict((await client.get(f"/api/v1/invoices/{number}")).json())
    address = BUYER["billing_address"]
    detail["buyer"] = {
        "legal_name": BUYER["legal_name"],
        "address": address,
        "tax_id": BUYER["tax_id"],
    }
    return detail


class BareWeasyPrint:
    """WeasyPrint alone, its stylesheet and fonts loaded once, as the notifier's workers hold
    them."""

    def __init__(self, css: str) -> None:
        from weasyprint import CSS, HTML
        from weasyprint.text.fonts import FontConfiguration

        self._html = HTML
        self._fonts = FontConfiguration()
        self._sheet = CSS(string=css, font_config=self._fonts)

    def pages(self, html: str) -> int:
        return len(
            self._html(string=html).render(stylesheets=[self._sheet], font_config=self._fonts).pages
        )

    def seconds(self, html: str, variant: str | None) -> float:
        """The time to write `html` as PDF (`variant`: pdf/a-3b, or None for a plain PDF)."""
        options: dict[str, Any] = {"stylesheets": [self._sheet], "font_config": self._fonts}
        if variant:
            options["pdf_variant"] = variant
        started = time.perf_counter()
        self._html(string=html).write_pdf(**options)
        return time.perf_counter() - started


def facturx_seconds(docs: list[InvoiceDocument], htmls: list[str], documents: Documents) -> float:
    """What the Factur-X adds to a document, in seconds: its CII built, and the PDF/A-3b
    rendered with it attached less the same render without. Each document is rendered once
    untimed (a first render of new text is a few ms slower), then with and without back to
    back, in turns of order, so a drift in the machine's speed falls on both. The garbage is
    collected before each timed render (a full collection, ~100 ms here, falls on one render in
    two otherwise) and the median taken, as a render slowed by another process would swamp a
    difference this small."""
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    sheet = CSS(string=documents.css, font_config=fonts)

    def with_facturx(doc: InvoiceDocument, html: str) -> float:
        gc.collect()
        started = time.perf_counter()
        xml = cii.to_xml(invoice_edocument(doc, documents.reseller, documents.currency))
        write_pdf(html, xml, sheet, fonts)
        return time.perf_counter() - started

    def without(html: str) -> float:
        gc.collect()
        started = time.perf_counter()
        write_pdf(html, None, sheet, fonts)
        return time.perf_counter() - started

    added = []
    for n, (doc, html) in enumerate(zip(docs, htmls, strict=True)):
        without(html)  # warm
        if n % 2:
            added.append(with_facturx(doc, html) - without(html))
        else:
            added.append(-without(html) + with_facturx(doc, html))
    return statistics.median(added)


async def run(
    gateway_url: str, token: str, notifier_url: str, secret: str, docs: int = 60
) -> PdfFigures:
    """`secret`: the stack's BILLPORT_INTERNAL_SECRET, to call the notifier as a service."""
    async with httpx.AsyncClient(
        base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as client:
        detail = await an_invoice(client)
        first = await client.get(f"/api/v1/invoices/{detail['invoice_id']}/pdf")
        first.raise_for_status()
        pages = len(PdfReader(io.BytesIO(first.content)).pages)

        def variant(n: int) -> dict[str, Any]:
            return {**detail, "org_name": f"{detail['org_name']} #{n} {uuid.uuid4().hex[:6]}"}

        async def render(body: dict[str, Any]) -> None:
            # The notifier renders for a service only: the bench signs as one.
            credential = sign(Caller(actor="bench", role="service"), secret, "notifier")
            r = await client.post(
                notifier_url + "/internal/documents/pdf",
                content=InvoiceDocument.model_validate(body).model_dump_json(),
                headers={"Content-Type": "application/json", HEADER: credential},
            )
            r.raise_for_status()

        progress("pdf: the notifier's time per document, one at a time, against bare WeasyPrint")
        # Each document is rendered by the notifier, then by bare WeasyPrint as PDF/A-3b and as
        # a plain PDF, in turn: a machine shared with other work slows all three alike.
        # Our template is also rendered against the plain document of the same text and rows
        # (`pdf_template_vs_plain`), both bare PDF/A-3b, back to back in alternating order.
        sequential = [variant(n) for n in range(12)]
        settings = _document_settings()
        documents = Documents(*settings)
        models = [InvoiceDocument.model_validate(b) for b in sequential]
        htmls = [documents.html(m, inline_css=False) for m in models]
        plains = [plain_html(m, documents) for m in models]
        bare = await asyncio.to_thread(BareWeasyPrint, documents.css)
        reference = await asyncio.to_thread(
            BareWeasyPrint, PLAIN_CSS.replace("__PAGE_SIZE__", settings[1])
        )
        ours_pages, plain_pages = await asyncio.gather(
            asyncio.to_thread(bare.pages, htmls[0]), asyncio.to_thread(reference.pages, plains[0])
        )
        progress(f"pdf: our invoice has {ours_pages} pages, the plain document {plain_pages}")
        await asyncio.to_thread(reference.seconds, plains[0], PDF_VARIANT)  # warm
        await asyncio.to_thread(bare.seconds, htmls[0], PDF_VARIANT)  # warm
        notifier_total = bare_total = plain_total = reference_total = 0.0
        template_ratios = []
        # The bench's long-lived objects leave the collector's generations, as the notifier's
        # workers do with theirs after warming up: the bare renders then pay for collecting
        # their own garbage only, as the workers' renders do.
        gc.collect()
        gc.freeze()
        for n, (body, html, plain) in enumerate(zip(sequential, htmls, plains, strict=True)):
            started = time.perf_counter()
            await render(body)
            notifier_total += time.perf_counter() - started
            bare_total += await asyncio.to_thread(bare.seconds, html, PDF_VARIANT)
            plain_total += await asyncio.to_thread(bare.seconds, html, None)
            # Template against plain: both collected before, so a collection falls on neither.
            ours, theirs = await asyncio.to_thread(_pair, bare, html, reference, plain, n % 2 == 1)
            reference_total += theirs
            template_ratios.append(ours / theirs)
        gc.unfreeze()
        notifier_each, bare_each, plain_each, reference_each = (
            x / len(sequential) for x in (notifier_total, bare_total, plain_total, reference_total)
        )
        facturx_each = await asyncio.to_thread(facturx_seconds, models, htmls, documents)
        progress(
            f"pdf: notifier {notifier_each * 1000:.0f} ms a document, bare WeasyPrint PDF/A-3b"
            f" {bare_each * 1000:.0f} ms (plain PDF {plain_each * 1000:.0f} ms),"
            f" Factur-X (CII built, attached in the same pass) {facturx_each * 1000:.1f} ms;"
            f" the plain document of the same text and rows {reference_each * 1000:.0f} ms"
        )

        progress(f"pdf: {docs} distinct documents, 4 requests at a time")
        queue = [variant(1000 + n) for n in range(docs)]
        started = time.perf_counter()

        async def drain() -> None:
            while queue:
                await render(queue.pop())

        await asyncio.gather(*(drain() for _ in range(4)))
        rate = docs / (time.perf_counter() - started)

        progress("pdf: 100 repeat downloads of an unchanged invoice through the gateway")
        url = f"/api/v1/invoices/{detail['invoice_id']}/pdf"
        timings = []
        for _ in range(100):
            started = time.perf_counter()
            (await client.get(url)).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
    return PdfFigures(
        renders_per_s=rate,
        overhead_ratio=notifier_each / bare_each,
        cached_ms=statistics.median(timings),
        cached_p99_ms=timings[98],
        pages=pages,
        facturx_ms=facturx_each * 1000,
        pdf_a_ratio=bare_each / plain_each,
        template_ratio=statistics.median(template_ratios),
    )


def _pair(
    ours: BareWeasyPrint, html: str, reference: BareWeasyPrint, plain: str, plain_first: bool
) -> tuple[float, float]:
    """Our template's bare PDF/A-3b render time and the plain document's, back to back (the
    garbage collected before each: a full collection falls on one render in two otherwise)."""

    def timed(renderer: BareWeasyPrint, text: str) -> float:
        gc.collect()
        return renderer.seconds(text, PDF_VARIANT)

    if plain_first:
        theirs = timed(reference, plain)
        return timed(ours, html), theirs
    ours_seconds = timed(ours, html)
    return ours_seconds, timed(reference, plain)


def _document_settings() -> tuple[Any, ...]:
    """The same reseller, paper and currency as the bench's notifier."""
    s = NotifierSettings(reseller_tax_id=SELLER_TAX_ID)
    return s.reseller(), s.page_size, s.currency, s.template_dir


def report(pdfs: PdfFigures) -> None:
    progress(f"pdf: the invoice has {pdfs.pages} pages")
    figure("pdf_render_per_s", pdfs.renders_per_s, "documents/s")
    figure("pdf_overhead_ratio", pdfs.overhead_ratio, "ratio")
    figure("facturx_ms", pdfs.facturx_ms, "ms")
    figure("pdf_a_vs_plain_ratio", pdfs.pdf_a_ratio, "ratio")
    figure("pdf_template_vs_plain", pdfs.template_ratio, "ratio")
    figure("pdf_cached_ms", pdfs.cached_ms, "ms")
    figure("pdf_cached_p99_ms", pdfs.cached_p99_ms, "ms")


def main() -> None:
    """This part alone, on a fresh stack of its own."""
    from devstack.stack import ROOT, Stack, StackConfig, wipe

    slot = int(os.environ.get("BILLPORT_TEST_SLOT", "2"))
    home = ROOT / ".local" / f"bench-pdf-{slot}"
    token = "bp_bench_admin_4Rt7Mz2Xq9Kd6Wv3Ln8Hp5"
    wipe(home)
    config = StackConfig.isolated(home, slot=slot, admin_token=token)
    config.extra_env["BILLPORT_NOTIFIER_RESELLER_TAX_ID"] = SELLER_TAX_ID
    stack = Stack(config)
    try:
        progress(f"booting a fresh stack (slot {slot})")
        stack.start_infra()
        stack.start_services()
        notifier_url = config.service_urls("notifier")[0]
        report(asyncio.run(run(config.gateway_url, token, notifier_url, config.internal_secret)))
    finally:
        progress("stopping the bench stack")
        stack.stop()


if __name__ == "__main__":
    main()
