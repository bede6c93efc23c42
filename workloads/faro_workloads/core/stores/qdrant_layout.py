"""How Faro lays out a collection in Qdrant: one unnamed dense vector (the collection's dimension and
distance, HNSW settings) and the lexical sparse vector with Qdrant's IDF modifier, the cluster's shards; the
check that an existing collection holds such vectors; vector indexing deferred for a bulk upload and turned
back on; and the alias that names a collection's live generation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qdrant_client import models

from faro_workloads.contract.settings import CollectionConfig, Distance, HnswConfig, QdrantConfig
from faro_workloads.core.stores.ports import CollectionMismatch
from faro_workloads.core.stores.qdrant_points import LEXICAL_VECTOR

if TYPE_CHECKING:
    from faro_workloads.core.stores.qdrant_connection import QdrantApi

DISTANCES: dict[Distance, models.Distance] = {
    Distance.COSINE: models.Distance.COSINE,
    Distance.DOT: models.Distance.DOT,
    Distance.EUCLID: models.Distance.EUCLID,
}

INDEXING_THRESHOLD_KB = 10_000
"""Qdrant's default ``indexing_threshold``, restored by :func:`enable_indexing`."""


def create_collection(
    client: QdrantApi,
    name: str,
    collection: CollectionConfig,
    hnsw: HnswConfig,
    config: QdrantConfig,
    defer_indexing: bool = False,
) -> None:
    """Collection ``name`` laid out for ``collection``'s chunks; with ``defer_indexing``, vector indexing
    off (for a bulk upload: :func:`enable_indexing` after)."""
    client.create_collection(
        name,
        vectors_config=models.VectorParams(
            size=collection.dimension, distance=DISTANCES[collection.distance]
        ),
        sparse_vectors_config={LEXICAL_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        hnsw_config=models.HnswConfigDiff(m=hnsw.m, ef_construct=hnsw.ef_construct),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=0) if defer_indexing else None,
        # A Qdrant cluster spreads the shards over its nodes (local mode has one node and ignores them).
        shard_number=config.shards,
        replication_factor=config.replication_factor,
        write_consistency_factor=config.write_consistency_factor,
    )


def check_collection(client: QdrantApi, name: str, collection: CollectionConfig) -> None:
    """Raise :class:`CollectionMismatch` unless collection ``name`` holds one unnamed dense vector of
    ``collection``'s dimension and distance."""
    params = client.get_collection(name).config.params.vectors
    if not isinstance(params, models.VectorParams):
        raise CollectionMismatch(f"qdrant collection {name!r} uses named vectors; Faro needs one")
    expected = DISTANCES[collection.distance]
    if params.size != collection.dimension or params.distance != expected:
        raise CollectionMismatch(
            f"qdrant collection {name!r} holds {params.size}-d {params.distance.value} vectors but "
            f"is configured for {collection.dimension}-d {expected.value}"
        )


def enable_indexing(client: QdrantApi, name: str) -> None:
    """Turn vector indexing (back) on at Qdrant's default threshold."""
    client.update_collection(
        name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=INDEXING_THRESHOLD_KB)
    )


def point_alias(client: QdrantApi, alias: str, name: str) -> None:
    """Point ``alias`` at collection ``name`` (one atomic change: the old alias goes as the new one comes)."""
    current = {a.alias_name for a in client.get_aliases().aliases}
    actions: list[models.AliasOperations] = []
    if alias in current:
        actions.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
    actions.append(
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=name, alias_name=alias))
    )
    client.update_collection_aliases(change_aliases_operations=actions)


def alias_target(client: QdrantApi, alias: str) -> str | None:
    """The collection ``alias`` names, or None."""
    found = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias]
    return found[0] if found else None
