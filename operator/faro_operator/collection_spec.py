"""The Collection's spec: a vector collection held in Qdrant (fast search; in the cluster, or outside it
through a bridge, possibly a Qdrant cluster) and PostgreSQL + pgvector (the source of truth)."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from faro_operator.spec_base import HOST, HTTP_URL, IP_ADDRESS, SecretKeyRef, SpecModel
from faro_workloads.contract.api import Distance
from faro_workloads.contract.settings import INDEX_BUILD_WORKERS, MAX_INDEX_BUILD_WORKERS


class DeletionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class HnswSpec(SpecModel):
    """HNSW graph parameters, applied to Qdrant and pgvector alike."""

    m: int = Field(16, ge=2, le=100, description="Edges per node.")
    ef_construct: int = Field(100, ge=4, le=1000, description="Candidate list size while building.")


class ExternalQdrant(SpecModel):
    """A Qdrant outside the cluster (e.g. on EC2), reached through a bridge Service."""

    address: str = Field(
        ...,
        pattern=HOST,
        max_length=253,
        description="IPv4 address (bridged with an EndpointSlice) or DNS name (an ExternalName Service).",
    )
    http_port: int = Field(6333, ge=1, le=65535, description="Qdrant REST port.")
    grpc_port: int = Field(6334, ge=1, le=65535, description="Qdrant gRPC port.")
    metrics: bool = Field(True, description="Scrape Qdrant's /metrics through the bridge (ServiceMonitor).")
    peer_addresses: list[Annotated[str, Field(pattern=IP_ADDRESS, max_length=45)]] = Field(
        default_factory=list,
        max_length=99,
        description="The other nodes of a Qdrant cluster, IP addresses like address: the bridge's "
        "EndpointSlice lists every node, and requests spread over them.",
    )

    @model_validator(mode="after")
    def _peers_like_the_address(self) -> ExternalQdrant:
        for address in [self.address, *self.peer_addresses]:
            looks_like_ip = ":" in address or address.replace(".", "").isdigit()
            if looks_like_ip:
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    raise ValueError(f"{address!r} is neither an IP address nor a DNS name") from None
        if not self.peer_addresses:
            return self
        families = set()
        for address in [self.address, *self.peer_addresses]:
            try:
                families.add(ipaddress.ip_address(address).version)
            except ValueError as exc:
                raise ValueError(
                    f"with peerAddresses every address must be an IP address: {address!r}"
                ) from exc
        if len(families) > 1:
            raise ValueError("address and peerAddresses must all be IPv4 or all IPv6")
        return self


class QdrantClusterSpec(SpecModel):
    """How a collection is laid out on a Qdrant cluster (set when the operator or a new index generation
    creates the collection; an existing collection keeps its layout)."""

    shards: int = Field(1, ge=1, le=1000, description="Shards, spread over the nodes.")
    replication_factor: int = Field(1, ge=1, le=100, description="Copies of each shard on distinct nodes.")
    write_consistency_factor: int = Field(1, ge=1, le=100, description="Copies acknowledging each write.")

    @model_validator(mode="after")
    def _consistency_within_replicas(self) -> QdrantClusterSpec:
        if self.write_consistency_factor > self.replication_factor:
            raise ValueError("writeConsistencyFactor may not exceed replicationFactor")
        return self


class QdrantSpec(SpecModel):
    """Where the collection's Qdrant copy lives: an in-cluster URL, or an external address to bridge."""

    url: str | None = Field(
        None,
        pattern=HTTP_URL,
        max_length=2048,
        description="In-cluster URL, e.g. http://qdrant.qdrant.svc:6333.",
    )
    external: ExternalQdrant | None = Field(None, description="Qdrant outside the cluster, bridged in.")
    api_key_secret_ref: SecretKeyRef | None = Field(None, description="Qdrant API key.")
    collection_name: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]{0,39}$",
        description="Name in both stores; defaults to the Collection's name with dashes as underscores.",
    )
    hnsw: HnswSpec = Field(default_factory=HnswSpec, description="HNSW parameters (both stores).")
    cluster: QdrantClusterSpec = Field(default_factory=QdrantClusterSpec, description="Shards and replicas.")

    @model_validator(mode="after")
    def _one_location(self) -> QdrantSpec:
        if (self.url is None) == (self.external is None):
            raise ValueError("qdrant needs exactly one of url or external")
        return self


class PostgresSpec(SpecModel):
    """The durable copy: PostgreSQL with pgvector."""

    dsn_secret_ref: SecretKeyRef = Field(..., description="Secret key holding the libpq connection string.")
    read_dsn_secret_ref: SecretKeyRef | None = Field(
        None,
        description="Secret key holding a read-only endpoint's connection string (e.g. an RDS read replica): "
        "the query service searches there; everything else uses dsnSecretRef.",
    )
    schema_name: str = Field(
        "faro", alias="schema", pattern=r"^[a-z_][a-z0-9_]{0,39}$", description="Schema of Faro's tables."
    )
    index_build_workers: int = Field(
        INDEX_BUILD_WORKERS,
        ge=0,
        le=MAX_INDEX_BUILD_WORKERS,
        description="Parallel workers that help build a new generation's HNSW index after its bulk load "
        "(capped by the server's max_parallel_workers; 0: the build runs in one process).",
    )


class CollectionSpec(SpecModel):
    """A vector collection held in Qdrant (fast search) and PostgreSQL + pgvector (source of truth)."""

    dimension: int = Field(..., ge=1, le=16000, description="Vector dimension. Immutable.")
    distance: Distance = Field(Distance.COSINE, description="Distance for both indexes. Immutable.")
    qdrant: QdrantSpec = Field(..., description="The Qdrant copy.")
    postgres: PostgresSpec = Field(..., description="The PostgreSQL copy.")
    deletion_policy: DeletionPolicy = Field(
        DeletionPolicy.RETAIN,
        description="Retain keeps both stores' data when the Collection is deleted; Delete drops them.",
    )
