"""What a RagPipeline's children need to know about its Collection, computed once from the Collection."""

from __future__ import annotations

import re
from dataclasses import dataclass

from faro_operator.builders.naming import short_hash
from faro_operator.builders.qdrant_bridge import resolved_qdrant_url
from faro_operator.specs import CollectionSpec, RagPipelineSpec, SecretKeyRef
from faro_workloads.contract.api import Distance

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_MAX_IDENTIFIER = 40


@dataclass(frozen=True)
class ResolvedCollection:
    """A Collection as the pipeline's workloads see it: store names, vector shape, URLs and secrets."""

    collection_name: str
    dimension: int
    distance: Distance
    qdrant_url: str
    qdrant_api_key: SecretKeyRef | None
    postgres_dsn: SecretKeyRef
    postgres_schema: str
    postgres_read_dsn: SecretKeyRef | None
    qdrant_layout: dict[str, int]
    """Shards, replication and write consistency of the collections the workloads create (generations)."""
    hnsw: dict[str, int]
    """The HNSW parameters of the indexes the workloads create (generations), as ``HnswConfig`` fields."""


def dimension_mismatch(pipeline: RagPipelineSpec, collection: CollectionSpec) -> str | None:
    """Why a pipeline's model cannot fill its Collection (vectors of another dimension); None when it can."""
    if pipeline.embedding.dimension == collection.dimension:
        return None
    return (
        f"embedding model {pipeline.embedding.model!r} returns {pipeline.embedding.dimension}-d vectors, "
        f"Collection {pipeline.collection_ref.name} holds {collection.dimension}-d"
    )


def resolved_collection_name(name: str, spec: CollectionSpec) -> str:
    """The collection's name in both stores: ``spec.qdrant.collectionName``, else derived from ``name``.

    The derived name replaces dashes (and dots) by underscores; a name that still is not an identifier of at
    most 40 characters (too long, or starting with a digit) is shortened/prefixed and gets a hash suffix.
    """
    if spec.qdrant.collection_name:
        return spec.qdrant.collection_name
    derived = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if _IDENTIFIER.match(derived):
        return derived
    if not derived[:1].isalpha():
        derived = f"c_{derived}"
    return f"{derived[: _MAX_IDENTIFIER - 9]}_{short_hash(name)}"


def qdrant_layout(spec: CollectionSpec) -> dict[str, int]:
    """The collection's layout on a Qdrant cluster, as ``QdrantConfig`` fields (``FARO_QDRANT__*``)."""
    return spec.qdrant.cluster.model_dump(by_alias=False)


def index_parameters(spec: CollectionSpec) -> dict[str, int]:
    """The indexes' build parameters, as ``HnswConfig`` fields (``FARO_HNSW__*``): the graph's (both stores)
    and PostgreSQL's parallel build workers."""
    return spec.qdrant.hnsw.model_dump(by_alias=False) | {"build_workers": spec.postgres.index_build_workers}


def resolve_collection(name: str, namespace: str, spec: CollectionSpec) -> ResolvedCollection:
    """The values of Collection ``namespace/name`` that the pipeline builders render."""
    return ResolvedCollection(
        collection_name=resolved_collection_name(name, spec),
        dimension=spec.dimension,
        distance=spec.distance,
        qdrant_url=resolved_qdrant_url(name, namespace, spec),
        qdrant_api_key=spec.qdrant.api_key_secret_ref,
        postgres_dsn=spec.postgres.dsn_secret_ref,
        postgres_schema=spec.postgres.schema_name,
        postgres_read_dsn=spec.postgres.read_dsn_secret_ref,
        qdrant_layout=qdrant_layout(spec),
        hnsw=index_parameters(spec),
    )
