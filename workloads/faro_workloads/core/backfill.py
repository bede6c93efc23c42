"""Backfill: fill one index generation from the documents' kept texts, until it holds every document at its
current content and nothing else.

A pass walks the generation's differences with the documents in doc_id order, a batch at a time: chunks of
deleted or replaced documents are cleared, and each document the generation lacks is chunked from its kept
text with the generation's chunker, embedded (through the embedding cache, so a restarted backfill pays
for nothing twice) and written — only if its content is still the one it was made from. The outbox then
carries the batch to the generation's Qdrant collection. What to do is read from the stores each time, so a
backfill stopped anywhere (``kill -9`` included) goes on where it stopped, and uploads, replaces and deletes
made meanwhile are simply differences the next batch or pass sees. Several processes may fill one generation
at once (the embedding engine's replicas): each claims the documents it lists before it cuts them, and
leaves those another process holds to it.

When the generation cuts documents as the live one does (a model change), the live generation's spans are
read back (without their vectors) instead of cutting the kept texts again — which also covers documents
stored before texts were kept. Otherwise a document without a kept text cannot be filled, and is
reported: upload it again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from faro_workloads.core.chunk_building import build_chunks
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.chunking.context import chunk_contexts, embedded_text
from faro_workloads.core.documents import Chunk, ChunkSpan, DocumentRecord, SourceText
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.metrics import BACKFILL_DOCUMENTS
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.stores.ports import (
    CutDocuments,
    DocumentCatalog,
    DocumentClaims,
    DocumentTexts,
    GenerationTarget,
    PointSink,
)

log = logging.getLogger(__name__)

BATCH_DOCUMENTS = 32
POINT_BATCHES_AHEAD = 2  # batches written to PostgreSQL whose points may still be on their way to Qdrant


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
    claimed_elsewhere: int = 0
    """Missing documents left to another process filling the same generation (they held its claims)."""


@dataclass(frozen=True, slots=True)
class _Stored:
    """What one batch's documents have in the stores: records, the live generation's cut, kept texts."""

    records: dict[str, DocumentRecord]
    cut: dict[str, tuple[str, list[ChunkSpan]]]
    texts: dict[str, SourceText]


@dataclass(frozen=True, slots=True)
class _Batch:
    """The next documents the generation lacks, as the reader stage found them: the last doc_id listed
    (where the next listing starts; "" when nothing was left), those this pass claimed (doc_id, listed
    content hash) with their stored state, and how many another process holds."""

    after: str
    missing: list[tuple[str, str]]
    stored: _Stored | None
    claimed_elsewhere: int


class Backfill:
    """Fills ``target`` (one generation's PostgreSQL side) and, through its outbox, ``sink`` (its Qdrant
    collection), from ``catalog``'s documents and kept texts, with ``chunker`` and ``embedder`` (the
    generation's profile). ``live``: the live generation's cut of the documents, reused when ``chunker`` cuts
    as the live generation did (None when it does not)."""

    def __init__(
        self,
        target: GenerationTarget,
        sink: PointSink,
        catalog: DocumentCatalog,
        texts: DocumentTexts,
        chunker: Chunker,
        embedder: Embedder,
        live: CutDocuments | None = None,
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
        self._fill_missing(result, stop, on_batch)
        result.stopped = bool(stop and stop.is_set())
        return result

    def _fill_missing(
        self,
        result: PassResult,
        stop: threading.Event | None,
        on_batch: Callable[[PassResult], None] | None,
    ) -> None:
        """Fill the missing documents a batch at a time, in four overlapping stages: while one batch's points
        go to Qdrant (:class:`PointPushes`) and the next is written to PostgreSQL, its claims released after
        (a writer thread), the one after is cut and embedded, and the one after that listed, claimed and read
        (records, the live generation's spans, kept texts: a reader thread) — the model's time, both stores'
        and the reads' overlap, and the embedding stage (this thread, the one that bounds a pass) makes no
        round trip of its own but the embedding cache's. Documents another process holds are left to it. A
        pass that leaves nothing to fill builds the generation's HNSW index while its last points are still
        on their way to Qdrant."""
        with (  # the claims last out: the stages that take and release them end first
            self._target.fill_claims() as claims,
            ThreadPoolExecutor(1, thread_name_prefix="backfill-reader") as reader,
            ThreadPoolExecutor(1, thread_name_prefix="backfill-writer") as writer,
            PointPushes(self._drainer) as points,
        ):
            writing: Future[None] | None = None
            upcoming: Future[_Batch] | None = reader.submit(self._next_batch, "", claims)
            while upcoming is not None and not (stop and stop.is_set()):
                batch = upcoming.result()
                upcoming = reader.submit(self._next_batch, batch.after, claims) if batch.after else None
                result.claimed_elsewhere += batch.claimed_elsewhere
                if batch.stored is None:
                    continue
                prepared = self._prepare(batch.missing, batch.stored, result)
                if writing is not None:
                    self._finish(writing, result, on_batch)
                held = [doc_id for doc_id, _ in batch.missing]
                writing = writer.submit(self._write, prepared, result, points, claims, held)
            if writing is not None:
                self._finish(writing, result, on_batch)
            if not (stop and stop.is_set()) and not result.claimed_elsewhere:
                # Filled as far as this process can tell (writes made meanwhile are added to the index as
                # they come); another process still filling builds it when it is done instead.
                self._target.build_hnsw_index()
            points.finish()
        self._drainer.drain()  # rows this pass did not write (e.g. left by a process killed mid-push)

    @staticmethod
    def _finish(
        writing: Future[None], result: PassResult, on_batch: Callable[[PassResult], None] | None
    ) -> None:
        """Wait for a batch's write (and the release of its claims)."""
        writing.result()
        if on_batch:
            on_batch(result)

    def _next_batch(self, after: str, claims: DocumentClaims) -> _Batch:
        """The reader stage: the next documents the generation lacks after ``after``, claimed, and what the
        stores hold of those this pass now holds."""
        listed = self._target.missing_documents(self._batch, after)
        if not listed:
            return _Batch("", [], None, 0)
        held = claims.claim([doc_id for doc_id, _ in listed])
        missing = [(doc_id, digest) for doc_id, digest in listed if doc_id in held]
        stored = self._read(missing) if missing else None
        return _Batch(listed[-1][0], missing, stored, len(listed) - len(held))

    def _read(self, missing: Sequence[tuple[str, str]]) -> _Stored:
        """What the stores hold of the ``missing`` documents (doc_id, listed content hash) that cutting them
        needs: their records, the live generation's spans and, for those it has not cut at the listed
        content, their kept texts."""
        doc_ids = [doc_id for doc_id, _ in missing]
        records = self._catalog.get_documents(doc_ids)
        cut = self._live.document_spans(doc_ids) if self._live is not None else {}
        uncut = [d for d, digest in missing if cut.get(d, ("",))[0] != digest]
        return _Stored(records, cut, self._texts.get_texts(uncut) if uncut else {})

    def _prepare(
        self, missing: Sequence[tuple[str, str]], stored: _Stored, result: PassResult
    ) -> dict[str, tuple[str, list[Chunk]]]:
        """The chunks (with their vectors) of the ``missing`` documents still at the listed content, by
        doc_id with that content hash; the documents that cannot be cut go to ``result.unfillable``."""
        records, cut, texts = stored.records, stored.cut, stored.texts
        planned: list[tuple[DocumentRecord, list[ChunkSpan]]] = []
        for doc_id, digest in missing:
            record = records.get(doc_id)
            if record is None or record.content_hash != digest:
                continue  # changed or deleted since it was listed: the next pass sees it again
            held, text = cut.get(doc_id), texts.get(doc_id)
            if held is not None and held[0] == digest and len(held[1]) == record.chunk_count:
                spans = held[1]  # the live generation cut this content the same way: no need to cut again
            elif text is not None and text.content_hash == digest:
                spans = self._chunker.chunk(text.text, text.fmt)
            else:
                spans = []
            if not spans:
                result.unfillable.append(doc_id)
                BACKFILL_DOCUMENTS.labels("unfillable").inc()
                continue
            planned.append((record, spans))
        if not planned:
            return {}
        with_context = self._chunker.identity.embeds_context
        contexts = [chunk_contexts(spans, record.metadata, with_context) for record, spans in planned]
        inputs = [
            embedded_text(context, span.text)
            for (_, spans), held_contexts in zip(planned, contexts, strict=True)
            for context, span in zip(held_contexts, spans, strict=True)
        ]
        vectors = iter(self._embedder.embed(inputs))  # one call for the batch: the model's batches stay full
        return {
            record.doc_id: (
                record.content_hash,
                build_chunks(
                    record.doc_id,
                    record.content_hash,
                    record.metadata,
                    spans,
                    [next(vectors) for _ in spans],
                    self._embedder.model,
                    document_contexts,
                ),
            )
            for (record, spans), document_contexts in zip(planned, contexts, strict=True)
        }

    def _write(
        self,
        documents: dict[str, tuple[str, list[Chunk]]],
        result: PassResult,
        points: PointPushes,
        claims: DocumentClaims,
        held: list[str],
    ) -> None:
        """The writer stage: write ``documents`` (those whose content is still the same) to the generation's
        PostgreSQL table, let go of the batch's claims (``held``), then hand their points to ``points`` (the
        chunks as written, not read back)."""
        try:
            written = self._target.fill_documents(documents) if documents else {}
        finally:
            claims.release(held)
        if not written:
            return
        result.filled += len(written)
        BACKFILL_DOCUMENTS.labels("filled").inc(len(written))
        points.push(
            [point for queued in written.values() for point in queued],
            {chunk.id: chunk for doc in written for chunk in documents[doc][1]},
        )


class PointPushes:
    """Pushes the points of batches already written to PostgreSQL on to Qdrant, through the outbox, in a
    thread of its own: at most ``ahead`` batches behind (then :meth:`push` waits), so the chunks held in
    memory stay bounded. A failed push (Qdrant down: its outbox rows stay for a later drain) is raised by the
    next :meth:`push` or by :meth:`finish`."""

    def __init__(self, drainer: OutboxDrainer, ahead: int = POINT_BATCHES_AHEAD) -> None:
        self._drainer = drainer
        self._ahead = ahead
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="backfill-points")
        self._pending: deque[Future[int]] = deque()

    def __enter__(self) -> PointPushes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for pending in self._pending:
            pending.cancel()  # only after a failure: finish() has waited for them otherwise
        self._pool.shutdown(wait=True)

    def push(self, point_ids: list[uuid.UUID], known: dict[uuid.UUID, Chunk]) -> None:
        """Apply the outbox rows of ``point_ids`` (queued by one write; ``known``: its chunks as written)."""
        while len(self._pending) >= self._ahead:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._drainer.drain, point_ids=point_ids, known=known))

    def finish(self) -> None:
        """Wait until every pushed batch is in Qdrant; raises the first failure."""
        while self._pending:
            self._pending.popleft().result()
