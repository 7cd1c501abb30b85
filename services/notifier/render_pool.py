"""PDF rendering in a pool of worker processes: WeasyPrint takes one core per render, and a
render must never block the event loop. Each worker imports WeasyPrint and loads the
stylesheet and fonts once; a render is capped in time and each worker in memory.

Every PDF is PDF/A-3b; given the Factur-X XML, the same WeasyPrint pass attaches it as
`factur-x.xml` with the Factur-X metadata (`facturx_pdf`)."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from shared.errors import TransientError

_worker: dict[str, Any] = {}


def _start_worker(css: str, memory_mb: int) -> None:
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # WeasyPrint is loaded here, in the workers only, not in the service's process.
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    from services.notifier import facturx_pdf

    fonts = FontConfiguration()
    _worker["write_pdf"] = facturx_pdf.write_pdf
    _worker["fonts"] = fonts
    _worker["css"] = weasyprint.CSS(string=css, font_config=fonts)
    # Renders run on a thread of the worker's own, not its main thread: measured on this
    # machine, the same documents render ~7% faster there (18-20 ms of ~250), alternating
    # main thread and thread document by document; glibc gives a thread its own malloc arena.
    _worker["thread"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
    # the first render loads what every render needs (fonts, the Factur-X XMP file)
    _render("<p>warm-up</p>", b"<warm-up/>")
    # What stays for the worker's life (WeasyPrint, the stylesheet, the fonts) leaves the
    # collector's generations: a full collection walked it all, ~100 ms on one render in two.
    gc.collect()
    gc.freeze()


def _render(html: str, xml: bytes | None) -> bytes:
    render = _worker["thread"].submit(
        _worker["write_pdf"], html, xml, _worker["css"], _worker["fonts"]
    )
    pdf: bytes = render.result()
    return pdf


class RenderPool:
    def __init__(self, css: str, workers: int, timeout: float, memory_mb: int) -> None:
        self._css = css
        self._workers = workers
        self._timeout = timeout
        self._memory_mb = memory_mb
        self._closed = False
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: workers do not inherit the event loop, sockets or threads of the service.
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_start_worker,
            initargs=(self._css, self._memory_mb),
        )

    def warm_up(self) -> None:
        """Start every worker now rather than on the first request."""
        for _ in range(self._workers):
            self._pool.submit(len, "")

    async def pdf(self, html: str, xml: bytes | None = None) -> bytes:
        """The PDF/A-3b of `html`, carrying `xml` as its Factur-X when given."""
        if self._closed:
            raise TransientError("the PDF workers are stopping with the service; try again")
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._pool, _render, html, xml)
            return await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            self._restart()
            raise TransientError(
                f"rendering the PDF took longer than {self._timeout:.0f}s"
            ) from None
        except BrokenProcessPool:
            self._restart()
            raise TransientError("a PDF worker died (out of memory?); try again") from None
        except MemoryError:
            # the worker's address-space limit reached: a fresh worker starts from a clean heap
            self._restart()
            raise TransientError("the PDF needed more memory than a worker may use") from None

    def _restart(self) -> None:
        if self._closed:  # shutting down: no new workers to leave behind
            return
        old, self._pool = self._pool, self._new_pool()
        _end(old)

    def close(self) -> None:
        """End the workers now: a render still running would keep its worker (and the
        forkserver) alive after the service."""
        self._closed = True
        _end(self._pool)


def _end(pool: ProcessPoolExecutor) -> None:
    # A stuck render does not end on shutdown: end its worker (no public API for that).
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
