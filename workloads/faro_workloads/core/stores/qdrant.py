"""Qdrant: the fast search store, a rebuildable copy of the chunks PostgreSQL holds.

Works against a Qdrant server (``QdrantConfig.url``) or qdrant-client's local mode (``QdrantConfig.path``, a
folder or ``":memory:"``), through :class:`QdrantConnection`. Point ids are the chunks' deterministic UUIDs;
the payload is :meth:`Chunk.payload`, so a point can be turned back into a :class:`Chunk`; searches filter
with :func:`to_qdrant_filter`; how a collection is laid out (its vectors, the live alias) is
:mod:`.qdrant_layout`'s.

Local mode keeps every deleted point in memory, where each search still scans it; after deletes the store
rebuilds a local collection from its live points once they are enough garbage (:class:`LocalCompaction`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from qdrant_client import models

from faro_workloads.contract.generations import FIRST_GENERATION, live_alias, qdrant_collection_name
from faro_workloads.contract.settings import CollectionConfig, HnswConfig, QdrantConfig
from faro_workloads.core.documents import Chunk, RankedChunk, SearchHit
from faro_workloads.core.fusion import at_most_per_document
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import AsyncChunkSearch
from faro_workloads.core.stores.qdrant_async import AsyncQdrantSearch
from faro_workloads.core.stores.qdrant_compaction import CompactionPolicy, LocalCompaction, LocalGarbage
from faro_workloads.core.stores.qdrant_connection import QdrantConnection
from faro_workloads.core.stores.qdrant_filter import to_qdrant_filter
from faro_workloads.core.stores.qdrant_indexes import create_payload_indexes, create_tenant_index
from faro_workloads.core.stores.qdrant_layout import (
    alias_target,
    check_collection,
    create_collection,
    enable_indexing,
    point_alias,
)
from faro_workloads.core.stores.qdrant_points import (
    DENSE_VECTOR,
    LEXICAL_VECTOR,
    LexicalIndexMissing,
    chunk_texts_of,
    dense_query,
    dense_request,
    has_lexical_vectors,
    lexical_request,
    point_batch,
    point_id,
    ranked_chunks,
    ranked_hits,
    search_hits,
    sparse_vector,
)
from faro_workloads.core.stores.threaded_search import ThreadedSearch

if TYPE_CHECKING:
    from faro_workloads.core.stores.qdrant_connection import QdrantApi

__all__ = ["LexicalIndexMissing", "QdrantStore"]

log = logging.getLogger(__name__)


class QdrantStore:
    """One Qdrant collection, mirroring one index generation's chunks table in PostgreSQL (the first by
    default: the collection's own name; :func:`qdrant_collection_name` for the others).

    ``compaction``: when a local-mode collection is rebuilt from its live points (ignored for a server).
    :meth:`for_generation` gives another generation's store over the same client.
    """

    def __init__(
        self,
        config: QdrantConfig,
        collection: CollectionConfig,
        hnsw: HnswConfig | None = None,
        *,
        compaction: CompactionPolicy | None = None,
        generation: int = FIRST_GENERATION,
        connection: QdrantConnection | None = None,
    ) -> None:
        self._config = config
        self._collection = collection
        self._hnsw = hnsw or HnswConfig()
        self._policy = compaction or CompactionPolicy()
        self.generation = generation
        self._name = qdrant_collection_name(collection.name, generation)
        self._owns_connection = connection is None
        self._qdrant = connection or QdrantConnection(config)
        self._compaction = LocalCompaction(self._qdrant, self._name, self._policy, self._create_empty)
        self._lexical: bool | None = None  # whether the collection has lexical vectors, once asked

    @property
    def collection(self) -> CollectionConfig:
        return self._collection

    @property
    def name(self) -> str:
        """This generation's collection name in Qdrant."""
        return self._name

    def for_generation(self, generation: int) -> QdrantStore:
        """Generation ``generation``'s store over this store's client (closing it closes nothing)."""
        return QdrantStore(
            self._config,
            self._collection,
            self._hnsw,
            compaction=self._policy,
            generation=generation,
            connection=self._qdrant,
        )

    # ----------------------------------------------------------------------------------------- lifecycle

    def ensure_collection(self, defer_indexing: bool = False) -> None:
        """Create the collection (with HNSW settings and a keyword payload index on doc_id) if missing;
        with ``defer_indexing``, with vector indexing off for a bulk upload (:meth:`enable_indexing` after).

        Raises :class:`CollectionMismatch` when it exists with another dimension or distance.
        """
        with self._qdrant.call("ensure_collection") as client:
            if client.collection_exists(self._name):
                self._check_existing(client)
                create_tenant_index(client, self._name, self._qdrant.local)
                # e.g. deletes before a restart left the SQLite file at its peak
                self._compaction.vacuum_if_due()
                return
            try:
                self._create_collection(client, defer_indexing)
            except Exception:
                if not client.collection_exists(self._name):
                    raise
                self._check_existing(client)  # another process created it first
                return
            create_payload_indexes(client, self._name, self._qdrant.local)
        log.info("created qdrant collection %s", self._name)

    def _create_collection(self, client: QdrantApi, defer_indexing: bool = False) -> None:
        self._lexical = None  # asked again: a collection made now has lexical vectors
        create_collection(client, self._name, self._collection, self._hnsw, self._config, defer_indexing)

    def enable_indexing(self) -> None:
        """Turn vector indexing (back) on at Qdrant's default threshold, after a bulk upload."""
        with self._qdrant.call("enable_indexing") as client:
            enable_indexing(client, self._name)

    def point_live_alias(self) -> None:
        """Point the alias ``{collection}_live`` at this generation's collection (one atomic change)."""
        with self._qdrant.call("point_live_alias") as client:
            point_alias(client, live_alias(self._collection.name), self._name)

    def live_alias_target(self) -> str | None:
        """The collection the ``{collection}_live`` alias names, or None."""
        with self._qdrant.call("live_alias_target") as client:
            return alias_target(client, live_alias(self._collection.name))

    def _create_empty(self, client: QdrantApi) -> None:
        """The empty collection with its payload index in ``client`` (compaction's fresh in-memory client)."""
        self._create_collection(client)
        create_payload_indexes(client, self._name, self._qdrant.local)

    def _check_existing(self, client: QdrantApi) -> None:
        check_collection(client, self._name, self._collection)

    def exists(self) -> bool:
        """Whether the collection exists (raises when Qdrant cannot be reached)."""
        with self._qdrant.call("exists") as client:
            return client.collection_exists(self._name)

    def drop(self) -> None:
        """Delete the collection if it exists."""
        with self._qdrant.call("drop") as client:
            if client.collection_exists(self._name):
                client.delete_collection(self._name)
                self._lexical = None

    def close(self) -> None:
        """Close the client (local mode releases its folder lock); a store from :meth:`for_generation`
        leaves its parent's client open."""
        if self._owns_connection:
            self._qdrant.close()

    def healthy(self) -> bool:
        """Cheap reachability check: Qdrant answers and the collection exists. Never raises."""
        try:
            return self.exists()
        except Exception as exc:
            log.debug("qdrant health check failed: %s", exc)
            return False

    # ----------------------------------------------------------------------------------------- writing

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Upsert ``chunks`` in batches of ``upsert_batch_size``, waiting until each batch is applied; with
        their lexical sparse vectors when the collection has them (those made before hybrid search do not)."""
        size = self._config.upsert_batch_size
        lexical = self.has_lexical()
        for start in range(0, len(chunks), size):
            batch = chunks[start : start + size]
            points = point_batch(batch, lexical)
            with self._qdrant.call("upsert") as client:
                client.upsert(self._name, points=points, wait=True)

    def has_lexical(self) -> bool:
        """Whether the collection holds lexical sparse vectors (made by a Faro with hybrid search)."""
        if self._lexical is None:
            with self._qdrant.call("collection_info") as client:
                self._lexical = has_lexical_vectors(client.get_collection(self._name))
        return self._lexical

    def delete(self, ids: Sequence[uuid.UUID]) -> None:
        """Delete these points (unknown ids are ignored)."""
        size = self._config.upsert_batch_size
        for start in range(0, len(ids), size):
            selector = models.PointIdsList(points=[str(i) for i in ids[start : start + size]])
            with self._qdrant.call("delete") as client:
                client.delete(self._name, points_selector=selector, wait=True)
        self._compaction.compact_if_due()

    def delete_document(self, doc_id: str) -> None:
        """Delete every point of one document."""
        selector = models.FilterSelector(
            filter=models.Filter(
                must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))]
            )
        )
        with self._qdrant.call("delete_document") as client:
            client.delete(self._name, points_selector=selector, wait=True)
        self._compaction.compact_if_due()

    # ----------------------------------------------------------------------------------------- reading

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` nearest points (score: similarity for cosine/dot, distance for euclid)."""
        return self._query("search", dense_query(vector), None, k, flt)

    def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        """The ``k`` nearest points, at most ``per_document`` of a document, among the ``candidates`` nearest
        (grouped here, as PostgreSQL groups them)."""
        return at_most_per_document(self.search(vector, candidates, flt), per_document)[:k]

    def search_lexical(self, query: SparseVector, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` points with the highest BM25 score for ``query`` (Qdrant's IDF times the stored
        weights); none without terms. Raises :class:`LexicalIndexMissing` on a collection without them."""
        if not query:
            return []
        self._require_lexical()
        return self._query("search_lexical", sparse_vector(query), LEXICAL_VECTOR, k, flt)

    def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]:
        """A hybrid query's two rankings, :meth:`search`'s and :meth:`search_lexical`'s, as ids and scores
        (no payload: most candidates are not kept), in one request (``query_batch_points``). Raises
        :class:`LexicalIndexMissing` as :meth:`search_lexical` does."""
        requests = [dense_request(vector, k, flt, ranked=True)]
        if query:
            self._require_lexical()
            requests.append(lexical_request(query, k, flt, ranked=True))
        with self._qdrant.call("rank_both") as client:
            responses = client.query_batch_points(self._name, requests=requests)
        rankings = [ranked_chunks(response.points) for response in responses]
        return rankings[0], rankings[1] if query else []

    def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]:
        """The chunks of ``ranking`` as hits, in its order and with its scores (one ``retrieve``)."""
        if not ranking:
            return []
        with self._qdrant.call("ranked_hits") as client:
            records = client.retrieve(
                self._name, ids=[str(chunk.id) for chunk in ranking], with_payload=True, with_vectors=False
            )
        return ranked_hits(ranking, records)

    def _require_lexical(self) -> None:
        if not self.has_lexical():
            raise LexicalIndexMissing(self._name)

    def _query(
        self, what: str, query: Any, using: str | None, k: int, flt: SearchFilter | None
    ) -> list[SearchHit]:
        """The first ``k`` points for ``query`` against the vector ``using`` (None: the dense one)."""
        with self._qdrant.call(what) as client:
            response = client.query_points(
                self._name,
                query=query,
                using=using,
                limit=k,
                query_filter=to_qdrant_filter(flt),
                with_payload=True,
            )
        return search_hits(response.points)

    def async_search(self) -> AsyncChunkSearch:
        """The same searches on an event loop: through the asynchronous client for a server; in local mode,
        this store's calls on the connection's own thread (local mode blocks and takes one lock)."""
        if self._qdrant.local:
            return ThreadedSearch(self, self._qdrant.executor())
        return AsyncQdrantSearch(self._qdrant.async_clients(), self._name)

    def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The text of the points with these ids that exist (one request, no vectors)."""
        if not ids:
            return {}
        with self._qdrant.call("chunk_texts") as client:
            records = client.retrieve(
                self._name, ids=[str(i) for i in ids], with_payload=["text"], with_vectors=False
            )
        return chunk_texts_of(records)

    def retrieve(self, ids: Sequence[uuid.UUID], with_vectors: bool = True) -> dict[uuid.UUID, Chunk]:
        """The points with these ids that exist, as chunks (empty embeddings when ``with_vectors`` is off)."""
        found: dict[uuid.UUID, Chunk] = {}
        size = self._config.upsert_batch_size
        for start in range(0, len(ids), size):
            with self._qdrant.call("retrieve") as client:
                records = client.retrieve(
                    self._name,
                    ids=[str(i) for i in ids[start : start + size]],
                    with_payload=True,
                    with_vectors=with_vectors,
                )
            for record in records:
                vector = record.vector if with_vectors else []
                if isinstance(vector, dict):  # with the lexical sparse vector beside it
                    vector = vector.get(DENSE_VECTOR, [])
                found[point_id(record.id)] = Chunk.from_payload(
                    record.payload or {}, np.asarray(vector, dtype=np.float32)
                )
        return found

    def scroll_ids(self, batch_size: int = 1000) -> Iterator[list[uuid.UUID]]:
        """Every point id, in batches."""
        offset: models.ExtendedPointId | None = None
        while True:
            with self._qdrant.call("scroll") as client:
                records, offset = client.scroll(
                    self._name, limit=batch_size, offset=offset, with_payload=False, with_vectors=False
                )
            if records:
                yield [point_id(record.id) for record in records]
            if offset is None:
                return

    def count(self, exact: bool = True) -> int:
        """Number of points (``exact=False``: Qdrant's cheap estimate, for status displays)."""
        with self._qdrant.call("count") as client:
            return client.count(self._name, exact=exact).count

    # ----------------------------------------------------------------------------------------- compaction

    def local_garbage(self) -> LocalGarbage | None:
        """Python local mode: see :meth:`LocalCompaction.garbage` (None for a server or Qdrant Edge)."""
        return self._compaction.garbage()

    def compact(self) -> bool:
        """Python local mode: rebuild the collection from its live points now, whatever the policy says.
        False (nothing done) for a server, Qdrant Edge or a missing collection."""
        return self._compaction.compact()
