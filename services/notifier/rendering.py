"""Documents on demand: the HTML view, the PDF/A-3 (with its Factur-X XML) rendered once per
distinct content and kept, and the UBL e-invoice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from services.notifier import cii, einvoice, repository, ubl
from services.notifier.document import Documents
from services.notifier.render_pool import RenderPool
from shared.documents import CreditNoteDocument, InvoiceDocument

log = logging.getLogger(__name__)


class Renderer:
    def __init__(self, documents: Documents, pool: RenderPool, db: asyncpg.Pool) -> None:
        self.documents = documents
        self._pool = pool
        self._db = db

    def html(self, doc: InvoiceDocument) -> str:
        return self.documents.html(doc, inline_css=True)

    def credit_note_html(self, note: CreditNoteDocument) -> str:
        return self.documents.credit_note_html(note, inline_css=True)

    def edocument(self, doc: InvoiceDocument | CreditNoteDocument) -> ubl.EDocument:
        """The document as an EN 16931 e-invoice; EInvoiceError (409) when it cannot be one."""
        reseller, currency = self.documents.reseller, self.documents.currency
        if isinstance(doc, CreditNoteDocument):
            return einvoice.credit_note_edocument(doc, reseller, currency)
        return einvoice.invoice_edocument(doc, reseller, currency)

    def ubl(self, doc: InvoiceDocument | CreditNoteDocument) -> bytes:
        return ubl.to_xml(self.edocument(doc))

    def facturx(self, doc: InvoiceDocument | CreditNoteDocument) -> bytes | None:
        """The CII the PDF embeds; none when the document cannot be an e-invoice (a buyer
        without a billing address): the PDF is then a plain PDF/A-3."""
        try:
            return cii.to_xml(self.edocument(doc))
        except einvoice.EInvoiceError as exc:
            log.info("PDF without Factur-X: %s", exc.message)
            return None

    async def pdf(self, doc: InvoiceDocument) -> bytes:
        return await self._pdf(
            doc, doc.invoice_id, doc.revision, lambda: self.documents.html(doc, inline_css=False)
        )

    async def credit_note_pdf(self, note: CreditNoteDocument) -> bytes:
        return await self._pdf(
            note, note.id, 1, lambda: self.documents.credit_note_html(note, inline_css=False)
        )

    async def _pdf(
        self,
        doc: InvoiceDocument | CreditNoteDocument,
        number: str,
        revision: int,
        html: Callable[[], str],
    ) -> bytes:
        fingerprint = self.documents.fingerprint(doc)
        async with self._db.acquire() as conn:
            cached = await repository.cached_pdf(conn, fingerprint)
        if cached is not None:
            return cached
        xml = await asyncio.to_thread(self.facturx, doc)  # lxml work off the event loop
        pdf = await self._pool.pdf(html(), xml)
        async with self._db.acquire() as conn:
            await repository.keep_pdf(conn, fingerprint, number, revision, pdf)
        return pdf
