"""Qdrant: the fast search store, a rebuildable copy of the chunks PostgreSQL holds.

Works against a Qdrant server (``QdrantConfig.url``) or qdrant-client's local mode (``QdrantConfig.path``, a
folder or ``":memory:"``). Point ids are the chunks' deterministic UUIDs; the payload is
:meth:`Chunk.payload`, so a point can be turned back into a :class:`Chunk`.

Local mode keeps every deleted point in memory, where each search still scans it; after deletes the store
rebuilds a local collection from its live points once they are enough garbage (:mod:`.qdrant_compaction`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
from qdrant_client import QdrantClient, models
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from faro_workloads.core.config import CollectionConfig, Distance, HnswConfig, QdrantConfig
from faro_workloads.core.documents import Chunk, SearchHit
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import CollectionMismatch
from faro_workloads.core.stores.qdrant_compaction import (
    CompactionPolicy,
    LocalGarbage,
    copy_points,
    local_slot_counts,
    storage_file,
    storage_pages,
    vacuum,
)

log = logging.getLogger(__name__)

BACKEND = "qdrant"
# Points per batch when compaction copies a :memory: collection.
_COPY_BATCH_SIZE = 4096

_DISTANCES: dict[Distance, models.Distance] = {
    Distance.COSINE: models.Distance.COSINE,
    Distance.DOT: models.Distance.DOT,
    Distance.EUCLID: models.Distance.EUCLID,
}


def _point_id(point_id: object) -> uuid.UUID:
    return point_id if isinstance(point_id, uuid.UUID) else uuid.UUID(str(point_id))


def _condition(key: str, value: str | int | float | bool) -> models.FieldCondition:
    """An exact-match condition; floats (which MatchValue does not take) match as a closed range."""
    if isinstance(value, float):
        return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def to_qdrant_filter(flt: SearchFilter | None) -> models.Filter | None:
    """The Qdrant filter equivalent to ``flt`` (None when there is nothing to filter on)."""
    if flt is None or flt.is_empty():
        return None
    must: list[models.Condition] = []
    if flt.doc_ids:
        must.append(models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(flt.doc_ids))))
    for key, value in (flt.metadata or {}).items():
        must.append(_condition(f"metadata.{key}", value))
    return models.Filter(must=must)


class QdrantStore:
    """One Qdrant collection, mirroring the collection's chunks table in PostgreSQL.

    ``compaction``: when a local-mode collection is rebuilt from its live points (ignored for a server).
    """

    def __init__(
        self,
        config: QdrantConfig,
        collection: CollectionConfig,
        hnsw: HnswConfig | None = None,
        *,
        compaction: CompactionPolicy | None = None,
    ) -> None:
        self._config = config
        self._collection = collection
        self._hnsw = hnsw or HnswConfig()
        self._name = collection.name
        self._local = config.url is None
        self._compaction = compaction or CompactionPolicy()
        self._client = self._open_client()
        # Local mode is not thread-safe; a server client is. The lock also covers swapping the client.
        self._lock = threading.RLock() if self._local else None
        self._unknown_layout_logged = False

    def _open_client(self) -> QdrantClient:
        config = self._config
        if config.url is not None:
            # No version probe at construction: the store must come up even while Qdrant is down.
            return QdrantClient(
                url=config.url,
                api_key=config.api_key.get_secret_value() if config.api_key else None,
                timeout=config.timeout_seconds,
                check_compatibility=False,
            )
        if config.path == ":memory:":
            return QdrantClient(location=":memory:")
        return QdrantClient(path=config.path)

    @property
    def _folder(self) -> str | None:
        """The local-mode folder (None for a server or ``:memory:``)."""
        return self._config.path if self._local and self._config.path != ":memory:" else None

    @property
    def collection(self) -> CollectionConfig:
        return self._collection

    @contextmanager
    def _call(self, operation: str) -> Iterator[None]:
        """Time ``operation`` and, in local mode, hold the client lock."""
        with STORE_SECONDS.labels(BACKEND, operation).time(), self._lock or nullcontext():
            yield

    # ----------------------------------------------------------------------------------------- lifecycle

    def ensure_collection(self) -> None:
        """Create the collection (with HNSW settings and a keyword payload index on doc_id) if missing.

        Raises :class:`CollectionMismatch` when it exists with another dimension or distance.
        """
        with self._call("ensure_collection"):
            if self._client.collection_exists(self._name):
                self._check_existing()
                self._vacuum_if_due()  # e.g. deletes before a restart left the SQLite file at its peak
                return
            try:
                self._create_collection(self._client)
            except Exception:
                if not self._client.collection_exists(self._name):
                    raise
                self._check_existing()  # another process created it first
                return
            self._create_doc_id_index(self._client)
        log.info("created qdrant collection %s", self._name)

    def _create_collection(self, client: QdrantClient) -> None:
        client.create_collection(
            self._name,
            vectors_config=models.VectorParams(
                size=self._collection.dimension, distance=_DISTANCES[self._collection.distance]
            ),
            hnsw_config=models.HnswConfigDiff(m=self._hnsw.m, ef_construct=self._hnsw.ef_construct),
        )

    def _create_doc_id_index(self, client: QdrantClient) -> None:
        with warnings.catch_warnings():
            # Local mode warns that payload indexes have no effect there; that is expected.
            if self._local:
                warnings.simplefilter("ignore", UserWarning)
            client.create_payload_index(
                self._name, "doc_id", field_schema=models.PayloadSchemaType.KEYWORD, wait=True
            )

    def _check_existing(self) -> None:
        params = self._client.get_collection(self._name).config.params.vectors
        if not isinstance(params, models.VectorParams):
            raise CollectionMismatch(f"qdrant collection {self._name!r} uses named vectors; Faro needs one")
        expected = _DISTANCES[self._collection.distance]
        if params.size != self._collection.dimension or params.distance != expected:
            raise CollectionMismatch(
                f"qdrant collection {self._name!r} holds {params.size}-d {params.distance.value} vectors but "
                f"is configured for {self._collection.dimension}-d {expected.value}"
            )

    def exists(self) -> bool:
        """Whether the collection exists (raises when Qdrant cannot be reached)."""
        with self._call("exists"):
            return self._client.collection_exists(self._name)

    def drop(self) -> None:
        """Delete the collection if it exists."""
        with self._call("drop"):
            if self._client.collection_exists(self._name):
                self._client.delete_collection(self._name)

    def close(self) -> None:
        """Close the client (local mode releases its folder lock)."""
        with self._lock or nullcontext():
            self._client.close()

    def healthy(self) -> bool:
        """Cheap reachability check: Qdrant answers and the collection exists. Never raises."""
        try:
            return self.exists()
        except Exception as exc:
            log.debug("qdrant health check failed: %s", exc)
            return False

    # ----------------------------------------------------------------------------------------- writing

    def upsert(self, chunks: Sequence[Chunk]) -> None:
        """Upsert ``chunks`` in batches of ``upsert_batch_size``, waiting until each batch is applied."""
        size = self._config.upsert_batch_size
        for start in range(0, len(chunks), size):
            batch = chunks[start : start + size]
            # Built from our own well-typed values: skip pydantic's per-float validation of every vector.
            points = models.Batch.model_construct(
                ids=[str(chunk.id) for chunk in batch],
                vectors=[np.asarray(chunk.embedding, dtype=np.float32).tolist() for chunk in batch],
                payloads=[chunk.payload() for chunk in batch],
            )
            with self._call("upsert"):
                self._client.upsert(self._name, points=points, wait=True)

    def delete(self, ids: Sequence[uuid.UUID]) -> None:
        """Delete these points (unknown ids are ignored)."""
        size = self._config.upsert_batch_size
        for start in range(0, len(ids), size):
            selector = models.PointIdsList(points=[str(i) for i in ids[start : start + size]])
            with self._call("delete"):
                self._client.delete(self._name, points_selector=selector, wait=True)
        self._compact_if_due()

    def delete_document(self, doc_id: str) -> None:
        """Delete every point of one document."""
        selector = models.FilterSelector(
            filter=models.Filter(
                must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))]
            )
        )
        with self._call("delete_document"):
            self._client.delete(self._name, points_selector=selector, wait=True)
        self._compact_if_due()

    # ----------------------------------------------------------------------------------------- reading

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` nearest points (score: similarity for cosine/dot, distance for euclid)."""
        with self._call("search"):
            response = self._client.query_points(
                self._name,
                query=np.asarray(vector, dtype=np.float32).tolist(),
                limit=k,
                query_filter=to_qdrant_filter(flt),
                with_payload=True,
            )
        hits = []
        for point in response.points:
            payload = point.payload or {}
            hits.append(
                SearchHit(
                    id=_point_id(point.id),
                    score=float(point.score),
                    doc_id=payload["doc_id"],
                    seq=int(payload["seq"]),
                    text=payload["text"],
                    metadata=dict(payload.get("metadata") or {}),
                )
            )
        return hits

    def retrieve(self, ids: Sequence[uuid.UUID], with_vectors: bool = True) -> dict[uuid.UUID, Chunk]:
        """The points with these ids that exist, as chunks (empty embeddings when ``with_vectors`` is off)."""
        found: dict[uuid.UUID, Chunk] = {}
        size = self._config.upsert_batch_size
        for start in range(0, len(ids), size):
            with self._call("retrieve"):
                records = self._client.retrieve(
                    self._name,
                    ids=[str(i) for i in ids[start : start + size]],
                    with_payload=True,
                    with_vectors=with_vectors,
                )
            for record in records:
                vector = record.vector if with_vectors else []
                found[_point_id(record.id)] = Chunk.from_payload(
                    record.payload or {}, np.asarray(vector, dtype=np.float32)
                )
        return found

    def scroll_ids(self, batch_size: int = 1000) -> Iterator[list[uuid.UUID]]:
        """Every point id, in batches."""
        offset: models.ExtendedPointId | None = None
        while True:
            with self._call("scroll"):
                records, offset = self._client.scroll(
                    self._name, limit=batch_size, offset=offset, with_payload=False, with_vectors=False
                )
            if records:
                yield [_point_id(record.id) for record in records]
            if offset is None:
                return

    def count(self, exact: bool = True) -> int:
        """Number of points (``exact=False``: Qdrant's cheap estimate, for status displays)."""
        with self._call("count"):
            return self._client.count(self._name, exact=exact).count

    # ----------------------------------------------------------------------------------------- compaction

    def local_garbage(self) -> LocalGarbage | None:
        """Local mode: the collection's point slots (deleted ones included) and its SQLite file's size and
        free space. None for a server, a missing collection, or a qdrant-client that keeps them elsewhere."""
        if self._lock is None:
            return None
        with self._lock:
            counts = local_slot_counts(self._client, self._name)
        if counts is None:
            return None
        pages = storage_pages(storage_file(self._folder, self._name)) if self._folder else None
        if pages is None:
            return LocalGarbage(*counts)
        return LocalGarbage(*counts, pages.pages * pages.page_size, pages.free_pages * pages.page_size)

    def compact(self) -> bool:
        """Local mode: rebuild the collection from its live points now, whatever the policy says. False
        (nothing done) for a server or a missing collection."""
        if self._lock is None:
            return False
        with self._lock:
            if not self._client.collection_exists(self._name):
                return False
            self._compact()
        return True

    def _compact_if_due(self) -> None:
        """After deletes: rebuild a local collection once its deleted slots pass the policy's threshold."""
        if self._lock is None:
            return
        with self._lock:
            counts = local_slot_counts(self._client, self._name)
            if counts is None:
                if not self._unknown_layout_logged and self._client.collection_exists(self._name):
                    self._unknown_layout_logged = True
                    log.warning("cannot count deleted points of qdrant local collection %s", self._name)
                return
            if self._compaction.due(*counts):
                self._compact()

    def _compact(self) -> None:
        """Rebuild the local collection from its live points; the caller holds the lock, so searches and
        writes see the collection before or after, never in between. Raises when a folder cannot be
        reopened (the store is then unusable, as after a failed start)."""
        before = local_slot_counts(self._client, self._name)
        with self._call("compact"):
            if self._folder is None:
                self._rebuild_in_memory()
            else:
                self._reload_folder(self._folder)
        after = local_slot_counts(self._client, self._name)
        log.info("compacted qdrant local collection %s: (slots, deleted) %s -> %s", self._name, before, after)

    def _rebuild_in_memory(self) -> None:
        """``:memory:``: copy the live points into a fresh client, then swap it in (the old one is kept
        should the copy fail)."""
        fresh = QdrantClient(location=":memory:")
        try:
            self._create_collection(fresh)
            self._create_doc_id_index(fresh)
            copy_points(self._client, fresh, self._name, _COPY_BATCH_SIZE)
        except Exception:
            fresh.close()
            raise
        old, self._client = self._client, fresh
        old.close()

    def _reload_folder(self, folder: str) -> None:
        """A folder: vacuum its SQLite file, then reopen the client, which loads only the live points."""
        path = storage_file(folder, self._name)
        try:
            vacuum(path)
        except sqlite3.Error as exc:  # the reload alone still drops the dead slots
            log.warning("could not vacuum %s: %s", path, exc)
        self._client.close()
        try:
            self._client = self._reopen_client()
        except Exception as exc:
            raise RuntimeError(
                f"qdrant local folder {folder} could not be reopened after compaction: {exc}"
            ) from exc

    @retry(
        retry=retry_if_exception_type(RuntimeError),  # the folder lock, should another process take it
        stop=stop_after_attempt(5),
        wait=wait_fixed(0.2),
        reraise=True,
    )
    def _reopen_client(self) -> QdrantClient:
        return self._open_client()

    def _vacuum_if_due(self) -> None:
        """A folder: vacuum the SQLite file when the policy says its free pages are enough garbage."""
        if self._folder is None:
            return
        path = storage_file(self._folder, self._name)
        try:
            pages = storage_pages(path)
            if pages is None or not self._compaction.due(pages.pages, pages.free_pages):
                return
            vacuum(path)
        except sqlite3.Error as exc:  # housekeeping: never what stops the store from starting
            log.warning("could not vacuum %s: %s", path, exc)
            return
        log.info("vacuumed %s: %d of %d pages were free", path, pages.free_pages, pages.pages)
