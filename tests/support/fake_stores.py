"""In-memory fakes of the store ports (:mod:`faro_workloads.core.stores.ports`), for fast unit tests of the
decisions above the stores.

They keep the ports' contracts, not the adapters' mechanics: :class:`FakePostgres` commits a write at once
(no locks, no retries) but queues the same outbox rows as PostgreSQL and applies a claim only when its block
exits normally; :class:`FakeQdrant` holds points by id. Setting ``failure`` on a fake makes every call raise
it (an outage), until it is set back to None. The real adapters are tested against real stores elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout
from faro_workloads.core.document_errors import Superseded
from faro_workloads.core.documents import (
    CONTEXT_KEY,
    Chunk,
    DocumentRecord,
    RankedChunk,
    SearchHit,
    SourceText,
    embedded_text,
)
from faro_workloads.core.fusion import at_most_per_document
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import AsyncChunkSearch, ChunkSearch, OutboxBatch
from faro_workloads.core.stores.threaded_search import ThreadedSearch

_SEARCH_THREADS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fake-search")


def threaded(store: ChunkSearch) -> AsyncChunkSearch:
    """A fake store's searches from an event loop, each on a thread (as many at once as callers)."""
    return ThreadedSearch(store, _SEARCH_THREADS)


class FakePostgres:
    """The source of truth in memory: :class:`DocumentCatalog`, :class:`DocumentWriter` and
    :class:`OutboxClaims`. ``commits`` counts the write transactions that committed."""

    def __init__(self) -> None:
        self.generation = 1  # one generation, never another (see test_generation_plan for those decisions)
        self.documents: dict[str, DocumentRecord] = {}
        self.texts: dict[str, SourceText] = {}
        self.embedding_cache: dict[tuple[str, bytes], np.ndarray] = {}
        self.chunks: dict[uuid.UUID, Chunk] = {}
        self.outbox: list[tuple[int, uuid.UUID, str]] = []  # (row id, point id, doc_id), oldest first
        self.deleted: dict[str, datetime] = {}  # deleted marks: when each document was deleted
        self._deletes = itertools.count(1)  # their times: distinct, as PostgreSQL's transaction times are
        self.commits = 0
        self.failure: Exception | None = None
        self._row_ids = itertools.count(1)

    def _available(self) -> None:
        if self.failure is not None:
            raise self.failure

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        return self.get_documents([doc_id]).get(doc_id)

    def generations(self) -> list:
        """No registry: the first generation is served with the configured profile."""
        return []

    def cached_embeddings(self, model_key: str, text_hashes: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        self._available()
        cache = self.embedding_cache
        return {digest: cache[(model_key, digest)] for digest in text_hashes if (model_key, digest) in cache}

    def remember_embeddings(self, model_key: str, embeddings: Mapping[bytes, np.ndarray]) -> None:
        self._available()
        for digest, vector in embeddings.items():
            self.embedding_cache.setdefault((model_key, digest), vector)

    def prune_embedding_cache(self, grace_seconds: float) -> int:
        """Without clocks: every entry counts as older than the grace (unit tests pass 0)."""
        self._available()
        held = {
            hashlib.sha256(embedded_text(chunk.metadata.get(CONTEXT_KEY, ""), chunk.text).encode()).digest()
            for chunk in self.chunks.values()
        }
        stale = [key for key in self.embedding_cache if key[1] not in held]
        for key in stale:
            del self.embedding_cache[key]
        return len(stale)

    def get_texts(self, doc_ids: Sequence[str]) -> dict[str, SourceText]:
        self._available()
        return {doc_id: self.texts[doc_id] for doc_id in doc_ids if doc_id in self.texts}

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        self._available()
        return {doc_id: self.documents[doc_id] for doc_id in doc_ids if doc_id in self.documents}

    def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        self._available()
        return [self.documents[d] for d in sorted(self.documents) if d > (after or "")][:limit]

    def set_source_etag(self, doc_id: str, etag: str) -> None:
        self._available()
        if doc_id in self.documents:
            self.documents[doc_id] = replace(self.documents[doc_id], source_etag=etag)

    def deletions(self, doc_ids: Sequence[str]) -> dict[str, datetime]:
        self._available()
        return {doc_id: self.deleted[doc_id] for doc_id in doc_ids if doc_id in self.deleted}

    def write_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        texts: Mapping[str, SourceText] | None = None,
        deletions_seen: Mapping[str, datetime | None] | None = None,
    ) -> dict[str, list[uuid.UUID]]:
        self._available()
        doc_ids = [record.doc_id for record, _ in documents]
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("a document was given twice in one write")
        for doc_id, seen in (deletions_seen or {}).items():
            if self.deleted.get(doc_id) != seen:
                raise Superseded(f"{doc_id} was deleted while this version of it was written")
        for doc_id in doc_ids:
            self.deleted.pop(doc_id, None)
        affected: dict[str, list[uuid.UUID]] = {}
        for record, chunks in documents:
            written = [chunk.id for chunk in chunks]
            stale = [i for i, c in self.chunks.items() if c.doc_id == record.doc_id and i not in written]
            for point in stale:
                del self.chunks[point]
            self.chunks.update((chunk.id, chunk) for chunk in chunks)
            self.documents[record.doc_id] = record
            if texts and record.doc_id in texts:
                self.texts[record.doc_id] = texts[record.doc_id]
            else:
                self.texts.pop(record.doc_id, None)
            affected[record.doc_id] = written + stale
        self._enqueue(affected)
        self.commits += 1
        return affected

    def delete_document(
        self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False
    ) -> list[uuid.UUID] | None:
        self._available()
        current = self.documents.get(doc_id)
        if held_tenant is not None and (current is None or current.metadata.get(TENANT_KEY) != held_tenant):
            return None
        known = self.documents.pop(doc_id, None)
        self.texts.pop(doc_id, None)
        removed = [i for i, chunk in self.chunks.items() if chunk.doc_id == doc_id]
        if known is not None or removed or acknowledged:
            self.deleted[doc_id] = datetime.fromtimestamp(next(self._deletes), UTC)
        if known is None and not removed:
            return None
        for point in removed:
            del self.chunks[point]
        self._enqueue({doc_id: removed})
        self.commits += 1
        return removed

    def _enqueue(self, point_ids: dict[str, list[uuid.UUID]]) -> None:
        for doc_id, points in point_ids.items():
            self.outbox.extend((next(self._row_ids), point, doc_id) for point in points)

    @contextmanager
    def claim_outbox(
        self,
        limit: int,
        point_ids: Sequence[uuid.UUID] | None = None,
        known: Mapping[uuid.UUID, Chunk] | None = None,  # the fake's own state is as cheap to read
    ) -> Iterator[OutboxBatch]:
        self._available()
        wanted = None if point_ids is None else set(point_ids)
        rows = [row for row in self.outbox if wanted is None or row[1] in wanted][:limit]
        named = list(dict.fromkeys(point for _, point, _ in rows))
        chunks = [self.chunks[point] for point in named if point in self.chunks]
        yield OutboxBatch(
            [row_id for row_id, _, _ in rows], named, chunks, [p for p in named if p not in self.chunks]
        )
        claimed = {row_id for row_id, _, _ in rows}  # reached only when the block did not raise
        self.outbox = [row for row in self.outbox if row[0] not in claimed]

    def outbox_pending(self) -> int:
        self._available()
        return len(self.outbox)


class FakeQdrant:
    """The search copy in memory, as far as the drainer sees it (:class:`PointSink`)."""

    def __init__(self) -> None:
        self.points: dict[uuid.UUID, Chunk] = {}
        self.failure: Exception | None = None

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        if self.failure is not None:
            raise self.failure
        self.points.update((chunk.id, chunk) for chunk in chunks)

    def delete(self, ids: Sequence[uuid.UUID]) -> None:
        if self.failure is not None:
            raise self.failure
        for point in ids:
            self.points.pop(point, None)


class FakeSearch:
    """A :class:`ChunkSearch` that answers ``hits`` (``lexical_hits`` for a lexical search, ``hits`` when
    not given) after ``delay`` seconds, or raises ``failure``; ``calls`` counts the searches it was asked
    for."""

    def __init__(
        self, hits: list[SearchHit], delay: float = 0.0, lexical_hits: list[SearchHit] | None = None
    ) -> None:
        self.hits = hits
        self.lexical_hits = hits if lexical_hits is None else lexical_hits
        self.delay = delay
        self.failure: Exception | None = None
        self.calls = 0

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.failure is not None:
            raise self.failure
        return self.hits[:k]

    def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        return at_most_per_document(self.search(vector, candidates, flt), per_document)[:k]

    def search_lexical(self, query: SparseVector, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        hits, self.hits = self.hits, self.lexical_hits
        try:
            return self.search(np.zeros(1), k, flt)
        finally:
            self.hits = hits

    def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]:
        dense, lexical = self.search(vector, k, flt), self.search_lexical(query, k, flt)
        return [RankedChunk(h.id, h.score) for h in dense], [RankedChunk(h.id, h.score) for h in lexical]

    def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]:
        """The hits it answers (``hits`` and ``lexical_hits``) with these ids, scored as ranked."""
        known = {hit.id: hit for hit in [*self.hits, *self.lexical_hits]}
        return [dataclasses.replace(known[c.id], score=c.score) for c in ranking if c.id in known]

    def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The texts of the chunks it answers (``hits`` and ``lexical_hits``) that have these ids."""
        known = {hit.id: hit.text for hit in [*self.hits, *self.lexical_hits]}
        return {i: known[i] for i in ids if i in known}

    def async_search(self) -> AsyncChunkSearch:
        return threaded(self)


class FakeChunkObjects:
    """A bucket of one pipeline's chunk objects and tombstones (:class:`ChunkObjectReader`); an object
    stored as ``bytes`` is read back through :meth:`ChunkObject.from_json_bytes`, so it may be malformed."""

    def __init__(self, bucket: str, layout: ChunkObjectLayout) -> None:
        self.bucket = bucket
        self.layout = layout
        self.objects: dict[str, bytes] = {}

    def put(self, obj: ChunkObject) -> str:
        key = self.layout.document_key(obj.doc_id)
        self.objects[key] = obj.to_json_bytes()
        return key

    def read(self, key: str) -> ChunkObject | None:
        data = self.objects.get(key)
        if data is None:
            return None
        return replace(ChunkObject.from_json_bytes(data), etag=hashlib.md5(data).hexdigest())

    def exists(self, key: str) -> bool:
        return key in self.objects

    def etag(self, key: str) -> str | None:
        data = self.objects.get(key)
        return None if data is None else hashlib.md5(data).hexdigest()
