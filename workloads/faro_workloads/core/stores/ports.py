"""What each consumer of the stores needs from them: one narrow protocol per need.

The core (ingest, the dual writer, the outbox drainer, retrieval, repair, the consistency check), the
embedding engine and the operator take these types, not the adapters, so their decisions are unit-tested
against in-memory fakes while the adapters' own tests run against the real stores.
:class:`~faro_workloads.core.stores.postgres.PgVectorStore` and
:class:`~faro_workloads.core.stores.qdrant.QdrantStore` satisfy every port of their side;
:class:`~faro_workloads.core.stores.s3_chunks.S3ChunkStore` satisfies :class:`ChunkObjectReader`.

The value types and errors the ports speak in (:class:`OutboxBatch`, :class:`StoreSchemaMismatch`,
:class:`CollectionMismatch`) live here too, so a consumer needs nothing from an adapter's module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np

from faro_workloads.contract.generations import Generation
from faro_workloads.contract.settings import CollectionConfig, HnswConfig, PostgresConfig, QdrantConfig
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout
from faro_workloads.core.document_state import DocumentMark, IndexedDocument
from faro_workloads.core.documents import Chunk, ChunkSpan, DocumentRecord, RankedChunk, SearchHit, SourceText
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.errors import ConfigurationError


class StoreSchemaMismatch(ConfigurationError):
    """The existing tables do not match the collection configuration (dimension or distance)."""


class CollectionMismatch(ConfigurationError):
    """The Qdrant collection exists with another dimension or distance than configured."""


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """Outbox rows claimed (row-locked) by one drain transaction and the state to apply for them.

    ``chunks`` are the current chunk rows of the named points, to upsert into Qdrant; ``absent_ids`` are
    the named points Postgres no longer holds, to delete from Qdrant.
    """

    row_ids: list[int]
    point_ids: list[uuid.UUID]
    chunks: list[Chunk]
    absent_ids: list[uuid.UUID]


# ------------------------------------------------------------------------ ingest and the dual writer


class DocumentCatalog(Protocol):
    """Ingest: the stored records, to decide created / replaced / unchanged, and to list documents (and the
    ETag of the object an unchanged document was read from again)."""

    def get_document(self, doc_id: str) -> DocumentRecord | None: ...

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]: ...

    def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]: ...

    def set_source_etag(self, doc_id: str, etag: str) -> None: ...

    def deletions(self, doc_ids: Sequence[str]) -> dict[str, datetime]:
        """When each of those of ``doc_ids`` marked deleted was deleted (compared again by a write)."""
        ...


class DocumentWriter(Protocol):
    """The dual writer: commit documents (chunks + outbox rows) in one transaction, or delete one.

    Both return the point ids queued in the outbox; ``delete_document`` None when the document is unknown.
    """

    def write_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        texts: Mapping[str, SourceText] | None = None,
        deletions_seen: Mapping[str, datetime | None] | None = None,
    ) -> dict[str, list[uuid.UUID]]: ...

    def delete_document(
        self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False
    ) -> list[uuid.UUID] | None: ...


class EmbeddingCache(Protocol):
    """Vectors by (model key, SHA-256 of the embedded text): what a text cost once is not paid again."""

    def cached_embeddings(self, model_key: str, text_hashes: Sequence[bytes]) -> dict[bytes, np.ndarray]: ...

    def remember_embeddings(self, model_key: str, embeddings: Mapping[bytes, np.ndarray]) -> None: ...

    def prune_embedding_cache(self, grace_seconds: float) -> int: ...


class DocumentEvidence(Protocol):
    """What a document's state is worked out from on PostgreSQL's side (records, queued Qdrant work, marks
    of failed and deleted documents): the documents API's reads."""

    def document_evidence(
        self, doc_ids: Sequence[str]
    ) -> tuple[dict[str, IndexedDocument], dict[str, DocumentMark]]: ...


class FailureLog(Protocol):
    """The embedding engine: note a document it gave up on, and why."""

    def mark_failed(self, doc_id: str, content_hash: str, reason: str) -> None: ...


class DocumentTexts(Protocol):
    """The documents' kept extracted texts (what a re-chunk under another index profile starts from)."""

    def get_texts(self, doc_ids: Sequence[str]) -> dict[str, SourceText]: ...


# --------------------------------------------------------------------------------- the outbox drainer


class OutboxClaims(Protocol):
    """The drainer's Postgres side: claim rows (deleted when the block exits normally), count the rest."""

    def claim_outbox(
        self,
        limit: int,
        point_ids: Sequence[uuid.UUID] | None = None,
        known: Mapping[uuid.UUID, Chunk] | None = None,
    ) -> AbstractContextManager[OutboxBatch]: ...

    def outbox_pending(self) -> int: ...


class GenerationTarget(OutboxClaims, Protocol):
    """A generation a backfill fills (its chunks table and outbox rows): what it lacks, what is stale, the
    writes that never put an older content over a newer one, and its HNSW index, built once it is full."""

    def missing_documents(self, limit: int, after: str = "") -> list[tuple[str, str]]: ...

    def stale_documents(self, limit: int, after: str = "") -> list[str]: ...

    def completeness(self) -> tuple[int, int, int]: ...

    def fill_documents(
        self, documents: Mapping[str, tuple[str, list[Chunk]]]
    ) -> dict[str, list[uuid.UUID]]: ...

    def clear_stale(self, doc_ids: Sequence[str]) -> dict[str, list[uuid.UUID]]: ...

    def fill_claims(self) -> AbstractContextManager[DocumentClaims]: ...

    def build_hnsw_index(self) -> None: ...


class DocumentClaims(Protocol):
    """Claims on documents one backfill pass fills, so that processes sharing a backfill never fill (and pay
    the model for) the same document at once; a dead process's claims go with it."""

    def claim(self, doc_ids: Sequence[str]) -> set[str]: ...

    def release(self, doc_ids: Sequence[str]) -> None: ...


class CutDocuments(Protocol):
    """A generation's cut of documents, read back without vectors (a backfill to the same chunking reuses it
    instead of cutting the texts again)."""

    def document_spans(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, list[ChunkSpan]]]: ...


class PointSink(Protocol):
    """The drainer's Qdrant side: apply Postgres's state of some points."""

    def upsert(self, chunks: Sequence[Chunk]) -> None: ...

    def delete(self, ids: Sequence[uuid.UUID]) -> None: ...


# ----------------------------------------------------------------------------------------- retrieval


class VectorSearch(Protocol):
    """Retrieval, from either store: the ``k`` nearest chunks, scored as Qdrant scores them."""

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]: ...


class LexicalSearch(Protocol):
    """Hybrid search's lexical signal, from either store: the ``k`` chunks with the highest BM25 score for a
    query's terms (:mod:`faro_workloads.core.lexical`), scored alike by both."""

    def search_lexical(
        self, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]: ...


class ChunkSearch(VectorSearch, LexicalSearch, Protocol):
    """What the query path asks of a store: either signal, or both at once (a hybrid query's two
    rankings, in one round trip to the store, as ids and scores; then the chunks fusion keeps, read whole
    by id: most candidates are never read), the nearest chunks grouped by document (at most
    ``per_document`` of one, chosen among the ``candidates`` nearest: what
    :func:`~faro_workloads.core.fusion.at_most_per_document` keeps of that many), and the text of chunks by
    id (a hit's neighbours)."""

    def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]: ...

    def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]: ...

    def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]: ...

    def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]: ...


class AsyncChunkSearch(Protocol):
    """:class:`ChunkSearch` on an event loop: what the query service's asynchronous path asks of a store
    (PostgreSQL's asynchronous pool, Qdrant's asynchronous client, or a store that only blocks run on a
    thread of its own)."""

    async def search(
        self, vector: np.ndarray, k: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]: ...

    async def search_lexical(
        self, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]: ...

    async def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]: ...

    async def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]: ...

    async def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]: ...

    async def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]: ...


class AsyncSearchSource(Protocol):
    """A store the query service searches from its event loop (through :meth:`async_search`)."""

    def async_search(self) -> AsyncChunkSearch: ...


# --------------------------------------------------------------------------- repair and consistency


class ChunkScan(Protocol):
    """Repair's Postgres side: every chunk, page by page, and every point id."""

    @property
    def collection(self) -> CollectionConfig: ...

    def iter_chunks(self, batch_size: int = 1024) -> Iterator[list[Chunk]]: ...

    def all_ids(self) -> set[uuid.UUID]: ...


class PointReplica(PointSink, Protocol):
    """Repair's Qdrant side: (re)create the collection, compare points, fix them, list the ids it holds."""

    def exists(self) -> bool: ...

    def ensure_collection(self, defer_indexing: bool = False) -> None: ...

    def retrieve(self, ids: Sequence[uuid.UUID], with_vectors: bool = True) -> dict[uuid.UUID, Chunk]: ...

    def scroll_ids(self, batch_size: int = 1000) -> Iterator[list[uuid.UUID]]: ...


class ConsistencySource(VectorSearch, Protocol):
    """The consistency check's Postgres side: ids, sampled query vectors, searches and the backlog."""

    @property
    def collection(self) -> CollectionConfig: ...

    def all_ids(self) -> set[uuid.UUID]: ...

    def sample_embeddings(self, n: int) -> list[np.ndarray]: ...

    def outbox_pending(self) -> int: ...


class ConsistencyReplica(VectorSearch, Protocol):
    """The consistency check's Qdrant side: whether the collection exists, its ids, searches and size."""

    def exists(self) -> bool: ...

    def scroll_ids(self, batch_size: int = 1000) -> Iterator[list[uuid.UUID]]: ...

    def count(self, exact: bool = True) -> int: ...


class AuditedSource(ChunkScan, ConsistencySource, Protocol):
    """The consistency job's Postgres side: checked, and read to repair Qdrant."""


class AuditedReplica(PointReplica, ConsistencyReplica, Protocol):
    """The consistency job's Qdrant side: checked, and repaired."""


# ------------------------------------------------------------------------------------- the operator


class SchemaAdmin(Protocol):
    """The operator's Postgres side: prepare the tables, count their rows, drop them, let go."""

    def ensure_schema(self) -> None: ...

    def status_counts(self, exact_below: int = 100_000) -> tuple[int, int]: ...

    def drop(self) -> None: ...

    def generations(self) -> list[Generation]: ...

    def live_generation(self) -> int: ...

    def generation_progress(self, generation: int) -> tuple[int, int, int]: ...

    def approve_generation(self, generation: int) -> bool: ...

    def for_generation(self, generation: int) -> SchemaAdmin: ...

    def close(self) -> None: ...


class CollectionAdmin(Protocol):
    """The operator's Qdrant side: prepare the collection, count its points, drop it, let go."""

    def for_generation(self, generation: int) -> CollectionAdmin: ...

    def ensure_collection(self, defer_indexing: bool = False) -> None: ...

    def count(self, exact: bool = True) -> int: ...

    def drop(self) -> None: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------- the embedding engine


class ChunkObjectReader(Protocol):
    """The embedding engine's S3 side: the pipeline's bucket and layout, chunk objects and tombstones."""

    bucket: str
    layout: ChunkObjectLayout

    def read(self, key: str) -> ChunkObject | None: ...

    def exists(self, key: str) -> bool: ...

    def etag(self, key: str) -> str | None:
        """The ETag of the object at ``key`` now (unquoted), None when there is none."""
        ...


# ------------------------------------------------------------------------------------ the operator


@dataclass(frozen=True)
class StoreConfigs:
    """Where a collection's two stores are and how they are shaped: what opening them needs."""

    collection: CollectionConfig
    postgres: PostgresConfig
    qdrant: QdrantConfig
    hnsw: HnswConfig


class StoreAdminOpener(Protocol):
    """The operator's way to the stores: both adapters, to create, count and drop (the caller closes them).
    The workloads' CLI hands the real one to the operator (``faro_workloads.services.stores``); tests may
    hand one that points Qdrant at local-mode folders."""

    def open(self, configs: StoreConfigs) -> tuple[SchemaAdmin, CollectionAdmin]: ...
