"""Backfill: fill one index generation from the documents' kept texts, until it holds every document at its
current content and nothing else.

A pass walks the generation's differences with the documents in doc_id order, a batch at a time: chunks of
deleted or replaced documents are cleared, and each document the generation lacks is chunked from its kept
text with the generation's chunker, embedded (through the embedding cache, so a restarted backfill pays
for nothing twice) and written — only if its content is still the one it was made from. The outbox then
carries the batch to the generation's Qdrant collection. What to do is read from the stores each time, so a
backfill stopped anywhere (``kill -9`` included) goes on where it stopped, and uploads, replaces and deletes
made meanwhile are simply differences the next batch or pass sees.

A document without a kept text (stored before texts were kept) is re-embedded from the live generation's
chunks when the two generations cut documents the same way (a model change); otherwise it cannot be
filled, and is reported: upload it again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import ChunkSpan, DocumentRecord, chunk_point_id
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.ingest import build_chunks
from faro_workloads.core.metrics import BACKFILL_DOCUMENTS
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.stores.ports import (
    DocumentCatalog,
    DocumentTexts,
    GenerationTarget,
    PointSink,
)

log = logging.getLogger(__name__)

BATCH_DOCUMENTS = 32


@dataclass(frozen=True, slots=True)
class Progress:
    """How complete the generation is: documents in the collection, those it lacks, those stale in it."""

    documents: int
    missing: int
    stale: int

    @property
    def done(self) -> int:
        return self.documents - self.missing

    @property
    def complete(self) -> bool:
        return not self.missing and not self.stale


@dataclass(slots=True)
class PassResult:
    """What one pass did; ``unfillable``: documents it could not fill (no kept text to cut again)."""

    filled: int = 0
    cleared: int = 0
    unfillable: list[str] = field(default_factory=list)
    stopped: bool = False


class Backfill:
    """Fills ``target`` (one generation's PostgreSQL side) and, through its outbox, ``sink`` (its Qdrant
    collection), from ``catalog``'s documents and kept texts, with ``chunker`` and ``embedder`` (the
    generation's profile). ``live``: the live generation's chunks, re-embedded for documents without a kept
    text when ``chunker`` cuts as the live generation did (None when it does not)."""

    def __init__(
        self,
        target: GenerationTarget,
        sink: PointSink,
        catalog: DocumentCatalog,
        texts: DocumentTexts,
        chunker: Chunker,
        embedder: Embedder,
        live: GenerationTarget | None = None,
        batch_documents: int = BATCH_DOCUMENTS,
    ) -> None:
        self._target = target
        self._drainer = OutboxDrainer(target, sink)
        self._catalog = catalog
        self._texts = texts
        self._chunker = chunker
        self._embedder = embedder
        self._live = live
        self._batch = batch_documents

    def progress(self) -> Progress:
        return Progress(*self._target.completeness())

    def run_pass(
        self,
        stop: threading.Event | None = None,
        on_batch: Callable[[PassResult], None] | None = None,
    ) -> PassResult:
        """Walk every difference once (clearing stale documents, then filling missing ones); stops early when
        ``stop`` is set. ``on_batch`` sees the running result after each batch."""
        result = PassResult()
        after = ""
        while not (stop and stop.is_set()):
            stale = self._target.stale_documents(self._batch, after)
            if not stale:
                break
            result.cleared += len(self._target.clear_stale(stale))
            BACKFILL_DOCUMENTS.labels("cleared").inc(len(stale))
            self._drainer.drain()
            after = stale[-1]
            if on_batch:
                on_batch(result)
        after = ""
        while not (stop and stop.is_set()):
            missing = self._target.missing_documents(self._batch, after)
            if not missing:
                break
            self._fill(missing, result)
            self._drainer.drain()
            after = missing[-1][0]
            if on_batch:
                on_batch(result)
        result.stopped = bool(stop and stop.is_set())
        return result

    def _fill(self, missing: Sequence[tuple[str, str]], result: PassResult) -> None:
        doc_ids = [doc_id for doc_id, _ in missing]
        records = self._catalog.get_documents(doc_ids)
        texts = self._texts.get_texts(doc_ids)
        planned: list[tuple[DocumentRecord, list[ChunkSpan]]] = []
        for doc_id, digest in missing:
            record = records.get(doc_id)
            if record is None or record.content_hash != digest:
                continue  # changed or deleted since it was listed: the next pass sees it again
            text = texts.get(doc_id)
            if text is not None and text.content_hash == digest:
                spans = self._chunker.chunk(text.text, text.fmt)
            else:
                spans = self._live_spans(record)
            if not spans:
                result.unfillable.append(doc_id)
                BACKFILL_DOCUMENTS.labels("unfillable").inc()
                continue
            planned.append((record, spans))
        if not planned:
            return
        vectors = iter(self._embedder.embed([span.text for _, spans in planned for span in spans]))
        documents = {
            record.doc_id: (
                record.content_hash,
                build_chunks(
                    record.doc_id,
                    record.content_hash,
                    record.metadata,
                    spans,
                    [next(vectors) for _ in spans],
                    self._embedder.model,
                ),
            )
            for record, spans in planned
        }
        written = self._target.fill_documents(documents)
        result.filled += len(written)
        BACKFILL_DOCUMENTS.labels("filled").inc(len(written))

    def _live_spans(self, record: DocumentRecord) -> list[ChunkSpan]:
        """The live generation's spans of ``record`` at its content (empty when there are none to use)."""
        if self._live is None or record.chunk_count < 1:
            return []
        ids = [chunk_point_id(record.doc_id, seq) for seq in range(record.chunk_count)]
        chunks = self._live.fetch_chunks(ids)
        if len(chunks) != record.chunk_count or any(c.content_hash != record.content_hash for c in chunks):
            return []
        return [ChunkSpan(c.text, c.start, c.end, c.metadata) for c in sorted(chunks, key=lambda c: c.seq)]
