"""Qdrant: the fast search store, a rebuildable copy of the chunks PostgreSQL holds.

Works against a Qdrant server (``QdrantConfig.url``) or qdrant-client's local mode (``QdrantConfig.path``, a
folder or ``":memory:"``). Point ids are the chunks' deterministic UUIDs; the payload is
:meth:`Chunk.payload`, so a point can be turned back into a :class:`Chunk`.
"""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext

import numpy as np
from qdrant_client import QdrantClient, models

from faro_workloads.core.config import CollectionConfig, Distance, HnswConfig, QdrantConfig
from faro_workloads.core.documents import Chunk, SearchHit
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.core.search_filter import SearchFilter

log = logging.getLogger(__name__)

BACKEND = "qdrant"

_DISTANCES: dict[Distance, models.Distance] = {
    Distance.COSINE: models.Distance.COSINE,
    Distance.DOT: models.Distance.DOT,
    Distance.EUCLID: models.Distance.EUCLID,
}


class CollectionMismatch(ValueError):
    """The Qdrant collection exists with another dimension or distance than configured."""


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
    """One Qdrant collection, mirroring the collection's chunks table in PostgreSQL."""

    def __init__(
        self, config: QdrantConfig, collection: CollectionConfig, hnsw: HnswConfig | None = None
    ) -> None:
        self._config = config
        self._collection = collection
        self._hnsw = hnsw or HnswConfig()
        self._name = collection.name
        self._local = config.url is None
        if config.url is not None:
            # No version probe at construction: the store must come up even while Qdrant is down.
            self._client = QdrantClient(
                url=config.url,
                api_key=config.api_key.get_secret_value() if config.api_key else None,
                timeout=config.timeout_seconds,
                check_compatibility=False,
            )
        elif config.path == ":memory:":
            self._client = QdrantClient(location=":memory:")
        else:
            self._client = QdrantClient(path=config.path)
        # Local mode is not thread-safe; a server client is.
        self._lock = threading.RLock() if self._local else None

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
                return
            try:
                self._client.create_collection(
                    self._name,
                    vectors_config=models.VectorParams(
                        size=self._collection.dimension, distance=_DISTANCES[self._collection.distance]
                    ),
                    hnsw_config=models.HnswConfigDiff(m=self._hnsw.m, ef_construct=self._hnsw.ef_construct),
                )
            except Exception:
                if not self._client.collection_exists(self._name):
                    raise
                self._check_existing()  # another process created it first
                return
            with warnings.catch_warnings():
                # Local mode warns that payload indexes have no effect there; that is expected.
                if self._local:
                    warnings.simplefilter("ignore", UserWarning)
                self._client.create_payload_index(
                    self._name, "doc_id", field_schema=models.PayloadSchemaType.KEYWORD, wait=True
                )
        log.info("created qdrant collection %s", self._name)

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

    def delete_document(self, doc_id: str) -> None:
        """Delete every point of one document."""
        selector = models.FilterSelector(
            filter=models.Filter(
                must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))]
            )
        )
        with self._call("delete_document"):
            self._client.delete(self._name, points_selector=selector, wait=True)

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
