"""Qdrant Edge as local mode's engine: the qdrant-client calls :class:`QdrantStore` makes, answered by
Qdrant's own engine running in this process (``qdrant-edge-py``: the Rust segments, HNSW and sparse index a
Qdrant server uses) instead of qdrant-client's pure-Python local mode.

Why: local mode scores every point in Python: a lexical (sparse) search over a few thousand chunks takes
tens of milliseconds there and under one millisecond in Edge, a dense search ~4 ms against ~0.6 ms, and an
upsert of 2,600 points 2.2 s against 0.5 s (``bench/README.md``, "Local mode on Qdrant Edge").

An Edge shard is one collection; this client keeps one per collection under a folder, with the aliases in a
JSON file beside them::

    {folder}/edge/collections/{name}/shard/        the Edge shard (its WAL holds the folder: one process)
    {folder}/edge/collections/{name}/params.json   the collection's vector parameters as Faro created them
    {folder}/edge/aliases.json                     alias -> collection

``folder=None`` (``":memory:"``) uses a temporary folder removed on :meth:`EdgeClient.close`.

Local mode searches exactly, as qdrant-client's local mode always did: no HNSW graph is built. Edge runs
its optimizer in the calling thread and holds the interpreter while it does, so building a graph stops the
whole process (15 s for 15,000 points of 384 dimensions on a loaded machine here, the API unresponsive
meanwhile), while an exact search in Rust takes ~2 ms at 10,000 chunks and ~9 ms at 50,000 (same machine,
same load). Collections are created with
indexing off, and turning it on after a bulk upload (:meth:`EdgeClient.update_collection`) runs the
optimizer without it. Edge has no background optimizer either: this client runs it after deletes, so that
deleted points leave the segments (once a segment of 1,000 points or more is a fifth deleted; 16,000 of
50,000 took 0.4 s).

Requests and answers are qdrant-client's ``models``, so the store is the same code for a server, Python
local mode and Edge; only what Faro sends is translated (anything else raises :class:`UnsupportedRequest`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from qdrant_client import models
from qdrant_client.http.models import QueryResponse

from faro_workloads.core.stores.edge_requests import (
    edge_filter,
    edge_query,
    edge_vectors,
    payload_index,
    record,
    scored_point,
)
from faro_workloads.core.stores.local_engines import EDGE_FOLDER
from faro_workloads.core.stores.qdrant_points import point_id
from faro_workloads.errors import one_line

EDGE_DISTANCES = {
    models.Distance.COSINE: qe.Distance.Cosine,
    models.Distance.DOT: qe.Distance.Dot,
    models.Distance.EUCLID: qe.Distance.Euclid,
    models.Distance.MANHATTAN: qe.Distance.Manhattan,
}
_PARAMS_FILE = "params.json"
_SHARD_DIR = "shard"


class UnsupportedRequest(TypeError):
    """A qdrant-client request this adapter does not translate (Faro sends none)."""


class EdgeUnavailable(RuntimeError):
    """An Edge shard cannot be opened: held by another process, or damaged."""


class _Collection:
    """One open shard and the parameters it was created with (``params.json``)."""

    def __init__(self, shard: qe.EdgeShard, params: models.CollectionParams) -> None:
        self.shard = shard
        self.params = params


class EdgeClient:
    """The subset of :class:`qdrant_client.QdrantClient` Faro uses, over Qdrant Edge shards in ``folder``.
    Not thread-safe by itself: :class:`QdrantConnection` holds its lock around every call, as for Python
    local mode."""

    def __init__(self, folder: str | None) -> None:
        self._temporary = folder is None
        root = Path(tempfile.mkdtemp(prefix="faro-qdrant-edge-")) if folder is None else Path(folder)
        self._root = root / EDGE_FOLDER
        self._collections_dir = self._root / "collections"
        self._collections_dir.mkdir(parents=True, exist_ok=True)
        self._aliases_file = self._root / "aliases.json"
        self._collections: dict[str, _Collection] = {}
        self._cleanup = weakref.finalize(self, shutil.rmtree, root, True) if self._temporary else None
        try:
            for entry in sorted(self._collections_dir.iterdir()):
                if entry.is_dir():
                    self._collections[entry.name] = _open(entry)
        except Exception:
            self.close()
            raise

    # ----------------------------------------------------------------------------------------- collections

    def collection_exists(self, collection_name: str) -> bool:
        return collection_name in self._collections

    def create_collection(
        self,
        collection_name: str,
        vectors_config: models.VectorParams,
        sparse_vectors_config: dict[str, models.SparseVectorParams] | None = None,
        **_ignored: Any,  # HNSW and optimizer settings (no graph is built here), shards (one node)
    ) -> bool:
        if collection_name in self._collections:
            raise ValueError(f"collection {collection_name!r} already exists")
        if not isinstance(vectors_config, models.VectorParams):
            raise UnsupportedRequest("Qdrant Edge collections here take one unnamed dense vector")
        sparse = sparse_vectors_config or {}
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=vectors_config.size, distance=EDGE_DISTANCES[vectors_config.distance]
            ),
            sparse_vectors={
                name: qe.EdgeSparseVectorParams(
                    modifier=qe.Modifier.Idf if params.modifier == models.Modifier.IDF else None
                )
                for name, params in sparse.items()
            },
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=0),  # exact search (module docstring)
        )
        params = models.CollectionParams(vectors=vectors_config, sparse_vectors=sparse or None)
        folder = self._collections_dir / collection_name
        folder.mkdir()
        try:
            shard = qe.EdgeShard.create(str(folder / _SHARD_DIR), config)
            _write_json(folder / _PARAMS_FILE, params.model_dump(mode="json", exclude_none=True))
        except Exception:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._collections[collection_name] = _Collection(shard, params)
        return True

    def update_collection(self, collection_name: str, **_ignored: Any) -> bool:
        """Indexing switched on after a bulk upload: the optimizer runs (merging the upload's segments), and
        the collection stays searched exactly (module docstring)."""
        self._get(collection_name).shard.optimize()
        return True

    def get_collection(self, collection_name: str) -> models.CollectionInfo:
        found = self._get(collection_name)
        info = found.shard.info()
        return models.CollectionInfo.model_construct(
            status=models.CollectionStatus.GREEN,
            points_count=info.points_count,
            segments_count=info.segments_count,
            indexed_vectors_count=info.indexed_vectors_count,
            config=models.CollectionConfig.model_construct(params=found.params),
            payload_schema={},
        )

    def delete_collection(self, collection_name: str) -> bool:
        found = self._collections.pop(collection_name, None)
        if found is None:
            return False
        found.shard.close()
        shutil.rmtree(self._collections_dir / collection_name)
        aliases = {a: c for a, c in self._aliases().items() if c != collection_name}
        _write_json(self._aliases_file, aliases)
        return True

    def get_aliases(self) -> models.CollectionsAliasesResponse:
        return models.CollectionsAliasesResponse(
            aliases=[
                models.AliasDescription(alias_name=alias, collection_name=name)
                for alias, name in sorted(self._aliases().items())
            ]
        )

    def update_collection_aliases(self, change_aliases_operations: Sequence[models.AliasOperations]) -> bool:
        """Apply the operations in order and write the result at once (one atomic change, as on a server)."""
        aliases = self._aliases()
        for operation in change_aliases_operations:
            if isinstance(operation, models.CreateAliasOperation):
                target = operation.create_alias.collection_name
                self._get(target)
                aliases[operation.create_alias.alias_name] = target
            elif isinstance(operation, models.DeleteAliasOperation):
                aliases.pop(operation.delete_alias.alias_name, None)
            else:
                raise UnsupportedRequest(f"alias operation {type(operation).__name__}")
        _write_json(self._aliases_file, aliases)
        return True

    def create_payload_index(
        self, collection_name: str, field_name: str, field_schema: Any, wait: bool = True
    ) -> None:
        self._get(collection_name).shard.update(
            qe.UpdateOperation.create_field_index(field_name, payload_index(field_schema))
        )

    # ----------------------------------------------------------------------------------------- points

    def upsert(self, collection_name: str, points: models.Batch, wait: bool = True) -> None:
        if not isinstance(points, models.Batch):
            raise UnsupportedRequest("upsert takes a models.Batch here")
        payloads = points.payloads or [None] * len(points.ids)
        vectors = edge_vectors(points.vectors, len(points.ids))
        self._get(collection_name).shard.update(
            qe.UpdateOperation.upsert_points(
                [
                    qe.Point(_edge_id(i), vector, payload)
                    for i, vector, payload in zip(points.ids, vectors, payloads, strict=True)
                ]
            )
        )

    def delete(self, collection_name: str, points_selector: Any, wait: bool = True) -> None:
        shard = self._get(collection_name).shard
        if isinstance(points_selector, models.PointIdsList):
            shard.update(qe.UpdateOperation.delete_points([_edge_id(i) for i in points_selector.points]))
        elif isinstance(points_selector, models.FilterSelector):
            shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter(points_selector.filter)))
        else:
            raise UnsupportedRequest(f"points selector {type(points_selector).__name__}")
        shard.optimize()  # vacuum: Edge runs no optimizer of its own

    def query_points(
        self,
        collection_name: str,
        query: Any,
        using: str | None = None,
        limit: int = 10,
        query_filter: models.Filter | None = None,
        with_payload: bool | Sequence[str] = True,
    ) -> QueryResponse:
        request = models.QueryRequest.model_construct(
            query=query, using=using, limit=limit, filter=query_filter, with_payload=with_payload
        )
        return self.query_batch_points(collection_name, [request])[0]

    def query_batch_points(
        self, collection_name: str, requests: Sequence[models.QueryRequest]
    ) -> list[QueryResponse]:
        shard = self._get(collection_name).shard
        batch = [
            qe.QueryRequest(
                limit=request.limit or 10,
                query=edge_query(request.query, request.using),
                filter=edge_filter(request.filter),
                with_payload=_with_payload(request.with_payload),
            )
            for request in requests
        ]
        if len(batch) == 1:
            answers = [shard.query(batch[0])]
        else:
            answers = shard.query_batch(qe.QueryBatchRequest(batch))
        return [
            QueryResponse.model_construct(points=[scored_point(point) for point in points])
            for points in answers
        ]

    def retrieve(
        self,
        collection_name: str,
        ids: Sequence[Any],
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool = False,
    ) -> list[models.Record]:
        records = self._get(collection_name).shard.retrieve(
            [_edge_id(i) for i in ids], _with_payload(with_payload), with_vectors
        )
        return [record(r) for r in records]

    def scroll(
        self,
        collection_name: str,
        limit: int = 10,
        offset: Any = None,
        with_payload: bool | Sequence[str] = True,
        with_vectors: bool = False,
    ) -> tuple[list[models.Record], Any]:
        records, next_offset = self._get(collection_name).shard.scroll(
            qe.ScrollRequest(
                offset=None if offset is None else _edge_id(offset),
                limit=limit,
                with_payload=_with_payload(with_payload),
                with_vector=with_vectors,
            )
        )
        return [record(r) for r in records], next_offset

    def count(self, collection_name: str, exact: bool = True) -> models.CountResult:
        return models.CountResult(count=self._get(collection_name).shard.count(qe.CountRequest(exact=exact)))

    def close(self, **_: Any) -> None:
        collections, self._collections = self._collections, {}
        for found in collections.values():
            found.shard.close()
        if self._cleanup is not None:
            self._cleanup()

    # ----------------------------------------------------------------------------------------- helpers

    def _get(self, collection_name: str) -> _Collection:
        found = self._collections.get(collection_name)
        if found is None:
            raise ValueError(f"Collection {collection_name} not found")
        return found

    def _aliases(self) -> dict[str, str]:
        if not self._aliases_file.exists():
            return {}
        return dict(json.loads(self._aliases_file.read_text()))


def _open(folder: Path) -> _Collection:
    """An existing collection's shard and parameters; :class:`EdgeUnavailable` when either cannot be read."""
    try:
        params = models.CollectionParams.model_validate_json((folder / _PARAMS_FILE).read_text())
        shard = qe.EdgeShard.load(str(folder / _SHARD_DIR), None)
    except Exception as exc:  # Edge raises a bare Exception ("Service runtime error: ...")
        held = "WouldBlock" in str(exc)
        why = "is in use by another process" if held else f"cannot be read ({one_line(exc)})"
        raise EdgeUnavailable(f"Qdrant Edge collection {folder} {why}") from None
    return _Collection(shard, params)


def _write_json(path: Path, value: object) -> None:
    """Write ``value`` to ``path`` atomically (a reader sees the old file or the new, never half of one)."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, sort_keys=True))
    os.replace(temporary, path)


def _edge_id(value: Any) -> int | uuid.UUID:
    """A point id as Edge takes it: an integer, or a UUID (qdrant-client also takes a UUID's string)."""
    return value if isinstance(value, int) else point_id(value)


def _with_payload(value: Any) -> bool | list[str]:
    if isinstance(value, bool):
        return value
    if isinstance(value, list | tuple):
        return list(value)
    raise UnsupportedRequest(f"with_payload {value!r}")
