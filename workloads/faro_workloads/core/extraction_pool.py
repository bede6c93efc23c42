"""Text extraction of uploads in worker processes, with a deadline: no upload can hold a service.

HTML parsing is native code whose cost grows faster than linearly on some inputs; the shape check in
:mod:`faro_workloads.core.html_shape` refuses the known ones before parsing, and the deadline here bounds
whatever is left. A document still being extracted when its deadline passes has its worker process killed
(and replaced) and is refused with :class:`DocumentTooComplex`. The event loop only awaits a future.

One pool serves a whole process (:func:`shared_pool`): a service has one documents API, and tests that
build many apps must not start processes per app.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import multiprocessing
import threading
from concurrent.futures import TimeoutError as FutureTimeout

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from faro_workloads.contract.settings import IngestConfig
from faro_workloads.core.document_errors import DocumentTooComplex
from faro_workloads.core.text_extraction import ExtractedDocument, SourceFormat, extract_document

log = logging.getLogger(__name__)


class ExtractionPool:
    """``workers`` processes running :func:`extract_document`; started on first use, stopped by
    :meth:`close`."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    async def extract(self, data: bytes | str, fmt: SourceFormat, limits: IngestConfig) -> ExtractedDocument:
        """The document's canonical text (and title) under ``limits``' HTML bounds and deadline, or
        :class:`UnsupportedDocument` (of which :class:`DocumentTooComplex` is one kind)."""
        future = self._schedule(data, fmt, limits)
        try:
            return await asyncio.wrap_future(future)
        except (FutureTimeout, ProcessExpired) as exc:
            raise _too_complex(exc, limits) from None
        except asyncio.CancelledError:  # the client went away: the worker need not finish
            future.cancel()
            raise

    def extract_blocking(
        self, data: bytes | str, fmt: SourceFormat, limits: IngestConfig
    ) -> ExtractedDocument:
        """:meth:`extract` for a caller on a worker thread (the embedding engine's bucket source)."""
        try:
            return self._schedule(data, fmt, limits).result()
        except (FutureTimeout, ProcessExpired) as exc:
            raise _too_complex(exc, limits) from None

    def _schedule(self, data: bytes | str, fmt: SourceFormat, limits: IngestConfig) -> ProcessFuture:
        return self._started().schedule(
            extract_document,
            args=(data, fmt, limits.max_html_depth, limits.max_html_elements),
            timeout=limits.extraction_timeout_seconds,
        )

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            atexit.unregister(self.close)
            pool.stop()
            pool.join(timeout=10)

    def _started(self) -> ProcessPool:
        with self._lock:
            if self._pool is None:
                # forkserver: workers never inherit the service's threads, locks or connections.
                self._pool = ProcessPool(
                    max_workers=self.workers, context=multiprocessing.get_context("forkserver")
                )
                atexit.register(self.close)
            return self._pool


def _too_complex(exc: BaseException, limits: IngestConfig) -> DocumentTooComplex:
    """What a timed-out or dead worker means for the document."""
    if isinstance(exc, ProcessExpired):
        log.warning("text extraction worker ended: %s", exc)
        return DocumentTooComplex("text extraction ran out of resources (its worker process ended)")
    return DocumentTooComplex(
        f"text extraction took longer than {limits.extraction_timeout_seconds:g} s (the limit)"
    )


@functools.cache
def shared_pool(workers: int) -> ExtractionPool:
    """The process's extraction pool of ``workers`` processes (one per distinct count: in practice one)."""
    return ExtractionPool(workers)
