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


async def test_closing_ends_the_workers_and_starts_no_new_ones() -> None:
    """A service shutting down ends its workers, even one busy rendering, and a render asked
    for afterwards is a TransientError, not a new worker left behind the service."""
    pool = RenderPool(CSS, workers=1, timeout=60, memory_mb=1024)
    await pool.pdf("<p>ready</p>")
    workers = list(pool._pool._processes.values())  # type: ignore[attr-defined]
    busy = asyncio.ensure_future(
        pool.pdf("<table>" + "<tr><td>row</td><td>cell</td></tr>" * 40_000 + "</table>")
    )
    await asyncio.sleep(0.5)
    pool.close()
    for worker in workers:
        worker.join(timeout=10)
        assert not worker.is_alive()
    with pytest.raises(TransientError):
        await busy
    with pytest.raises(TransientError, match="stopping"):
        await pool.pdf("<p>after</p>")
    assert pool._pool._processes in (None, {}) or not any(  # type: ignore[attr-defined]
        p.is_alive()
        for p in pool._pool._processes.values()  # type: ignore[attr-defined]
    )
