"""The bare Qdrant engine the benchmarks compare Faro with, the same engine Faro's local mode runs on:
a Qdrant Edge shard called directly (``qdrant-edge-py``; the default, as ``faro local`` runs), or
qdrant-client's Python local mode (``--qdrant-engine python``). Nothing of Faro stands between the
benchmark and the engine: points are built in the engine's own types before the clock starts.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import qdrant_edge as qe
from qdrant_client import QdrantClient, models

from faro_workloads.contract.settings import CollectionConfig, HnswConfig, LocalEngine, QdrantConfig
from faro_workloads.core.documents import Chunk
from faro_workloads.core.lexical import chunk_vector
from faro_workloads.core.stores.edge_client import EDGE_DISTANCES
from faro_workloads.core.stores.qdrant_layout import DISTANCES, create_collection
from faro_workloads.core.stores.qdrant_points import LEXICAL_VECTOR, point_batch

LOCAL_MODE = QdrantConfig(path=":memory:")
UPSERT_BATCH = LOCAL_MODE.upsert_batch_size


class RawQdrant(Protocol):
    """One collection laid out as Faro lays it out on that engine (dense vector, lexical sparse vector with
    the IDF modifier; Edge: searched exactly, Python: the same HNSW settings, which local mode ignores),
    written and queried with the engine's own calls."""

    def batches(self, chunks: Sequence[Chunk]) -> list[Any]:
        """``chunks`` as ready-to-send batches of ``UPSERT_BATCH`` points (not timed)."""
        ...

    def upsert(self, batches: list[Any]) -> None: ...

    def query(self, vector: np.ndarray, k: int) -> object:
        """The ``k`` nearest points with their payload."""
        ...

    def close(self) -> None: ...


def _parts(chunks: Sequence[Chunk]) -> list[Sequence[Chunk]]:
    return [chunks[start : start + UPSERT_BATCH] for start in range(0, len(chunks), UPSERT_BATCH)]


class RawEdge:
    """A bare Qdrant Edge shard in a folder of its own."""

    def __init__(self, collection: CollectionConfig, folder: str | None) -> None:
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=collection.dimension,
                distance=EDGE_DISTANCES[DISTANCES[collection.distance]],
            ),
            sparse_vectors={LEXICAL_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=0),  # searched exactly, as Faro's
        )
        self._folder = tempfile.TemporaryDirectory(prefix="faro-bench-edge-") if folder is None else None
        path = self._folder.name if self._folder is not None else folder
        self._shard = qe.EdgeShard.create(f"{path}/shard", config)

    def batches(self, chunks: Sequence[Chunk]) -> list[list[qe.Point]]:
        return [
            [
                qe.Point(
                    chunk.id,
                    {
                        "": np.asarray(chunk.embedding, dtype=np.float32).tolist(),
                        LEXICAL_VECTOR: qe.SparseVector(*_sparse(chunk)),
                    },
                    chunk.payload(),
                )
                for chunk in part
            ]
            for part in _parts(chunks)
        ]

    def upsert(self, batches: list[list[qe.Point]]) -> None:
        for batch in batches:
            self._shard.update(qe.UpdateOperation.upsert_points(batch))

    def query(self, vector: np.ndarray, k: int) -> object:
        return self._shard.query(
            qe.QueryRequest(limit=k, query=qe.Query.Nearest(vector.tolist()), with_payload=True)
        )

    def close(self) -> None:
        self._shard.close()
        if self._folder is not None:
            self._folder.cleanup()


def _sparse(chunk: Chunk) -> tuple[list[int], list[float]]:
    vector = chunk_vector(chunk)
    return list(vector.indices), list(vector.values)


class RawPythonLocalMode:
    """A bare qdrant-client local-mode client (in memory, or on a folder of its own)."""

    def __init__(self, collection: CollectionConfig, folder: str | None) -> None:
        self._name = collection.name
        self._client = QdrantClient(location=":memory:") if folder is None else QdrantClient(path=folder)
        create_collection(
            self._client, collection.name, collection, HnswConfig(), QdrantConfig(path=":memory:")
        )

    def batches(self, chunks: Sequence[Chunk]) -> list[models.Batch]:
        return [point_batch(part, lexical=True) for part in _parts(chunks)]

    def upsert(self, batches: list[models.Batch]) -> None:
        for batch in batches:
            self._client.upsert(self._name, points=batch, wait=True)

    def query(self, vector: np.ndarray, k: int) -> object:
        return self._client.query_points(self._name, query=vector.tolist(), limit=k, with_payload=True)

    def close(self) -> None:
        self._client.close()


def open_raw_qdrant(engine: LocalEngine, collection: CollectionConfig, folder: str | None) -> RawQdrant:
    """A fresh raw collection on ``engine`` (``folder`` None: in memory, or a temporary folder for Edge)."""
    if engine == "edge":
        return RawEdge(collection, folder)
    return RawPythonLocalMode(collection, folder)
