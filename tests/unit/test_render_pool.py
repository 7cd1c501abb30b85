"""The notifier's PDF worker pool on real worker processes: a render comes back as a PDF/A-3b
written on the worker's render thread, and a render past its time limit ends its worker, is
answered with a TransientError (a 503 to the caller), and leaves a pool that renders again."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
from pypdf import PdfReader

from services.notifier import render_pool
from services.notifier.render_pool import RenderPool
from shared.errors import TransientError

CSS = "@page { size: A4; margin: 10mm; }"


def _render_thread_name() -> str:
    name: str = (
        render_pool._worker["thread"].submit(lambda: threading.current_thread().name).result()
    )
    return name


async def test_a_render_is_a_pdf_a_written_on_the_workers_render_thread() -> None:
    pool = RenderPool(CSS, workers=1, timeout=60, memory_mb=1024)
    try:
        pdf = await pool.pdf("<p>Invoice INV-1</p>", b"<x/>")
        reader = PdfReader(io.BytesIO(pdf))
        assert reader.attachments == {"factur-x.xml": [b"<x/>"]}
        xmp = reader.xmp_metadata
        assert xmp is not None and b"pdfaid:part" in xmp.stream.get_data()
        loop = asyncio.get_running_loop()
        name = await loop.run_in_executor(pool._pool, _render_thread_name)
        assert name.startswith("render")
    finally:
        pool.close()


async def test_a_render_past_its_time_ends_its_worker_and_the_pool_renders_again() -> None:
    pool = RenderPool(CSS, workers=1, timeout=60, memory_mb=1024)
    try:
        await pool.pdf("<p>ready</p>")  # the worker has started
        pool._timeout = 1.0
        endless = "<table>" + "<tr><td>row</td><td>cell</td></tr>" * 40_000 + "</table>"
        with pytest.raises(TransientError, match="longer than"):
            await pool.pdf(endless)
        pool._timeout = 60
        assert (await pool.pdf("<p>after</p>")).startswith(b"%PDF-")
    finally:
        pool.close()
