"""Documents on demand: the HTML view, and the PDF rendered once per distinct content and kept."""

from __future__ import annotations

import asyncpg

from services.notifier import repository
from services.notifier.document import Documents
from services.notifier.render_pool import RenderPool
from shared.documents import InvoiceDocument


class Renderer:
    def __init__(self, documents: Documents, pool: RenderPool, db: asyncpg.Pool) -> None:
        self.documents = documents
        self._pool = pool
        self._db = db

    def html(self, doc: InvoiceDocument) -> str:
        return self.documents.html(doc, inline_css=True)

    async def pdf(self, doc: InvoiceDocument) -> bytes:
        fingerprint = self.documents.fingerprint(doc)
        async with self._db.acquire() as conn:
            cached = await repository.cached_pdf(conn, fingerprint)
        if cached is not None:
            return cached
        pdf = await self._pool.pdf(self.documents.html(doc, inline_css=False))
        async with self._db.acquire() as conn:
            await repository.keep_pdf(conn, fingerprint, doc.invoice_id, doc.revision, pdf)
        return pdf
