"""Invoice documents: PDFs rendered per second by the notifier's worker pool, its time per
document against bare WeasyPrint on the same HTML, and a repeat download of an unchanged
invoice through the gateway. The invoice has 30 lines of every kind (two US Letter pages);
distinct documents are made by varying the organization's name, so none comes from the cache."""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from pypdf import PdfReader

from bench.report import progress
from services.notifier.document import Documents
from services.notifier.main import NotifierSettings
from shared.documents import InvoiceDocument
from shared.internal_auth import HEADER, Caller, sign


@dataclass(frozen=True)
class PdfFigures:
    renders_per_s: float
    overhead_ratio: float
    cached_ms: float
    cached_p99_ms: float
    pages: int


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
    org = (await client.post("/api/v1/organizations", json={"name": f"PDF fleet {t}"})).json()
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
    return dict((await client.get(f"/api/v1/invoices/{number}")).json())


def bare_weasyprint_seconds(htmls: list[str], css: str) -> float:
    """WeasyPrint alone on the same HTML, stylesheet and fonts loaded once: seconds per doc."""
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    fonts = FontConfiguration()
    sheet = weasyprint.CSS(string=css, font_config=fonts)
    weasyprint.HTML(string=htmls[0]).write_pdf(stylesheets=[sheet], font_config=fonts)  # warm
    started = time.perf_counter()
    for html in htmls:
        weasyprint.HTML(string=html).write_pdf(stylesheets=[sheet], font_config=fonts)
    return (time.perf_counter() - started) / len(htmls)


async def run(gateway_url: str, token: str, notifier_url: str, docs: int = 60) -> PdfFigures:
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
            credential = sign(
                Caller(actor="bench", role="service"),
                os.environ["BILLPORT_INTERNAL_SECRET"],
                "notifier",
            )
            r = await client.post(
                notifier_url + "/internal/documents/pdf",
                content=InvoiceDocument.model_validate(body).model_dump_json(),
                headers={"Content-Type": "application/json", HEADER: credential},
            )
            r.raise_for_status()

        progress("pdf: the notifier's time per document, one at a time, against bare WeasyPrint")
        sequential = [variant(n) for n in range(12)]
        started = time.perf_counter()
        for body in sequential:
            await render(body)
        notifier_each = (time.perf_counter() - started) / len(sequential)
        documents = Documents(*_document_settings())
        htmls = [
            documents.html(InvoiceDocument.model_validate(b), inline_css=False) for b in sequential
        ]
        bare_each = await asyncio.to_thread(bare_weasyprint_seconds, htmls, documents.css)
        progress(
            f"pdf: notifier {notifier_each * 1000:.0f} ms a document,"
            f" bare WeasyPrint {bare_each * 1000:.0f} ms"
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
    )


def _document_settings() -> tuple[Any, ...]:
    """The same reseller, paper and currency as the notifier under its default settings."""
    s = NotifierSettings()
    return s.reseller(), s.page_size, s.currency, s.template_dir
