"""PgVectorStore: one collection in PostgreSQL + pgvector, the object callers construct.

It owns the connection pool and hands each job to its part: :class:`PostgresSchema` (DDL),
:class:`PostgresDocuments` (records, writes and deletes), :class:`PostgresSearch` (k-NN),
:class:`PostgresScans` (bulk reads, counts, samples), :class:`PostgresOutbox` (the Qdrant work queue),
:class:`PostgresTexts` (the documents' kept texts), :class:`PostgresDocumentMarks` (failed and deleted
documents) and :class:`PostgresEmbeddingCache`.
It satisfies every Postgres port of :mod:`faro_workloads.core.stores.ports`; consumers take those.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

import numpy as np

from faro_workloads.contract.generations import (
    FIRST_GENERATION,
    CutoverBlock,
    Generation,
    GenerationState,
    in_state,
)
from faro_workloads.contract.index_profile import IndexProfile
from faro_workloads.contract.settings import CollectionConfig, HnswConfig, PostgresConfig
from faro_workloads.core.census import CensusScope, ListedObject
from faro_workloads.core.document_state import DocumentMark, IndexedDocument
from faro_workloads.core.documents import Chunk, ChunkSpan, DocumentRecord, RankedChunk, SearchHit, SourceText
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import OutboxBatch
from faro_workloads.core.stores.postgres.census import PostgresCensus, PostgresCensusSession
from faro_workloads.core.stores.postgres.document_marks import PostgresDocumentMarks
from faro_workloads.core.stores.postgres.documents import PostgresDocuments
from faro_workloads.core.stores.postgres.embedding_cache import PostgresEmbeddingCache
from faro_workloads.core.stores.postgres.fill_claims import FillClaims, fill_claims
from faro_workloads.core.stores.postgres.generation_fill import PostgresGenerationFill
from faro_workloads.core.stores.postgres.generations import PostgresGenerations
from faro_workloads.core.stores.postgres.outbox import PostgresOutbox
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.scans import PostgresScans
from faro_workloads.core.stores.postgres.schema import PostgresSchema
from faro_workloads.core.stores.postgres.search import AsyncPostgresSearch, PostgresSearch
from faro_workloads.core.stores.postgres.tables import CollectionTables
from faro_workloads.core.stores.postgres.texts import PostgresTexts


class PgVectorStore:
    """One collection's tables in PostgreSQL + pgvector, reached through a small connection pool; chunks,
    searches, scans and outbox rows are those of index generation ``generation`` (the first by default).
    :meth:`for_generation` gives another generation's store over the same pool."""

    def __init__(
        self,
        config: PostgresConfig,
        collection: CollectionConfig,
        hnsw: HnswConfig | None = None,
        *,
        generation: int = FIRST_GENERATION,
        pool: PostgresPool | None = None,
    ) -> None:
        self._config = config
        self._collection = collection
        self._hnsw = hnsw or HnswConfig()
        self.generation = generation
        tables = CollectionTables.of(config.schema_name, collection, generation)
        self._tables = tables
        self._owns_pool = pool is None
        self._pool = pool or PostgresPool(config, collection.name)
        self._schema = PostgresSchema(self._pool, tables, self._hnsw)
        self._generations = PostgresGenerations(self._pool, tables)
        self._fill = PostgresGenerationFill(self._pool, tables)
        self._documents = PostgresDocuments(self._pool, tables)
        self._search = PostgresSearch(self._pool, tables, config)
        self._scans = PostgresScans(self._pool, tables)
        self._outbox = PostgresOutbox(self._pool, tables)
        self._texts = PostgresTexts(self._pool, tables)
        self._marks = PostgresDocumentMarks(self._pool, tables)
        self._census = PostgresCensus(self._pool, tables)
        self._embedding_cache = PostgresEmbeddingCache(self._pool, tables)

    @property
    def collection(self) -> CollectionConfig:
        return self._collection

    # ----------------------------------------------------------------------- lifecycle (PostgresSchema)

    def ensure_schema(self) -> None:
        """See :meth:`PostgresSchema.ensure_schema` (raises StoreSchemaMismatch)."""
        self._schema.ensure_schema()

    def schema_exists(self) -> bool:
        """See :meth:`PostgresSchema.exists`."""
        return self._schema.exists()

    def drop(self) -> None:
        self._schema.drop()

    def index_definitions(self) -> dict[str, str]:
        return self._schema.index_definitions()

    def healthy(self) -> bool:
        return self._pool.healthy()

    def close(self) -> None:
        """Close the pool (a store from :meth:`for_generation` leaves its parent's pool open)."""
        if self._owns_pool:
            self._pool.close()

    def for_generation(self, generation: int) -> PgVectorStore:
        """Generation ``generation``'s store over this store's pool (closing it closes nothing)."""
        return PgVectorStore(
            self._config, self._collection, self._hnsw, generation=generation, pool=self._pool
        )

    # ------------------------------------------ generations (PostgresGenerations, PostgresGenerationFill)

    def generations(self) -> list[Generation]:
        return self._generations.generations()

    def live_generation(self) -> int:
        """The live generation's id: what queries read and status counts (the first while none is
        registered)."""
        live = in_state(self.generations(), GenerationState.LIVE)
        return live.id if live is not None else FIRST_GENERATION

    def register_generation(
        self, profile: IndexProfile, state: GenerationState, at: int | None = None
    ) -> Generation:
        return self._generations.register_generation(profile, state, at)

    def forget_generation(self, generation: int) -> None:
        self._generations.forget_generation(generation)

    def approve_generation(self, generation: int) -> bool:
        return self._generations.approve_generation(generation)

    def record_block(self, generation: int, reason: CutoverBlock | None, message: str | None) -> None:
        self._generations.record_block(generation, reason, message)

    def generations_lock(self) -> AbstractContextManager[bool]:
        return self._generations.generations_lock()

    def missing_documents(self, limit: int, after: str = "") -> list[tuple[str, str]]:
        return self._generations.missing_documents(limit, after)

    def stale_documents(self, limit: int, after: str = "") -> list[str]:
        return self._generations.stale_documents(limit, after)

    def completeness(self) -> tuple[int, int, int]:
        return self._generations.completeness()

    def generation_progress(self, generation: int) -> tuple[int, int, int]:
        """(documents, missing, stale) of generation ``generation`` (see :meth:`completeness`)."""
        return self.for_generation(generation).completeness()

    def promote(self, require_complete: bool = True) -> tuple[int, int, int] | None:
        return self._generations.promote(require_complete)

    def fill_documents(self, documents: Mapping[str, tuple[str, list[Chunk]]]) -> dict[str, list[uuid.UUID]]:
        return self._fill.fill_documents(documents)

    def clear_stale(self, doc_ids: Sequence[str]) -> dict[str, list[uuid.UUID]]:
        return self._fill.clear_stale(doc_ids)

    def fill_claims(self) -> AbstractContextManager[FillClaims]:
        return fill_claims(self._config, self._tables)

    def ensure_chunks_table(self, with_hnsw: bool) -> None:
        self._schema.ensure_chunks_table(with_hnsw)

    def build_hnsw_index(self) -> None:
        self._schema.build_hnsw_index()

    def drop_chunks_table(self) -> None:
        self._schema.drop_chunks_table()

    # -------------------------------------------------------------------- documents (PostgresDocuments)

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        return self._documents.get_document(doc_id)

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        return self._documents.get_documents(doc_ids)

    def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        return self._documents.list_documents(limit, after)

    def write_document(self, record: DocumentRecord, chunks: list[Chunk]) -> list[uuid.UUID]:
        return self._documents.write_document(record, chunks)

    def write_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        texts: Mapping[str, SourceText] | None = None,
        deletions_seen: Mapping[str, datetime | None] | None = None,
    ) -> dict[str, list[uuid.UUID]]:
        return self._documents.write_documents(documents, texts, deletions_seen)

    def get_texts(self, doc_ids: Sequence[str]) -> dict[str, SourceText]:
        return self._texts.get_texts(doc_ids)

    # ------------------------------------------------------- document states (PostgresDocumentMarks)

    def mark_failed(self, doc_id: str, content_hash: str, reason: str) -> None:
        self._marks.mark_failed(doc_id, content_hash, reason)

    def deletions(self, doc_ids: Sequence[str]) -> dict[str, datetime]:
        return self._marks.deletions(doc_ids)

    def document_evidence(
        self, doc_ids: Sequence[str]
    ) -> tuple[dict[str, IndexedDocument], dict[str, DocumentMark]]:
        return self._marks.document_evidence(doc_ids)

    def prune_deleted_marks(self, older_than_seconds: float) -> int:
        return self._marks.prune_deleted_marks(older_than_seconds)

    # ---------------------------------------------------------------------------- census (PostgresCensus)

    def census(
        self,
        listing: Iterable[list[ListedObject]],
        scope: CensusScope,
        listed_at: datetime,
        grace_seconds: float,
        requeue_timeout_seconds: float,
    ) -> AbstractContextManager[PostgresCensusSession]:
        return self._census.census(listing, scope, listed_at, grace_seconds, requeue_timeout_seconds)

    def documents_of_points(self, point_ids: Sequence[uuid.UUID]) -> dict[str, str]:
        return self._census.documents_of_points(point_ids)

    # ------------------------------------------------------------- embedding cache (PostgresEmbeddingCache)

    def cached_embeddings(self, model_key: str, text_hashes: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        return self._embedding_cache.cached_embeddings(model_key, text_hashes)

    def remember_embeddings(self, model_key: str, embeddings: Mapping[bytes, np.ndarray]) -> None:
        self._embedding_cache.remember_embeddings(model_key, embeddings)

    def prune_embedding_cache(self, grace_seconds: float) -> int:
        return self._embedding_cache.prune(grace_seconds)

    def set_source_etag(self, doc_id: str, etag: str) -> None:
        self._documents.set_source_etag(doc_id, etag)

    def delete_document(
        self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False
    ) -> list[uuid.UUID] | None:
        return self._documents.delete_document(doc_id, held_tenant, acknowledged)

    def bulk_load(self, chunks: list[Chunk]) -> None:
        self._documents.bulk_load(chunks)

    # ------------------------------------------------------------------------------ search (PostgresSearch)

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        return self._search.search(vector, k, flt)

    def search_lexical(self, query: SparseVector, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        return self._search.search_lexical(query, k, flt)

    def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        return self._search.search_grouped(vector, k, per_document, candidates, flt)

    def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]:
        return self._search.rank_both(vector, query, k, flt)

    def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]:
        return self._search.ranked_hits(ranking)

    def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        return self._search.chunk_texts(ids)

    def async_search(self) -> AsyncPostgresSearch:
        """The same searches on an event loop, over this store's pool's asynchronous connections."""
        return AsyncPostgresSearch(self._pool.async_pool, self._search.statements)

    # ------------------------------------------------------------------------------ scans (PostgresScans)

    def fetch_chunks(self, ids: Sequence[uuid.UUID]) -> list[Chunk]:
        return self._scans.fetch_chunks(ids)

    def document_spans(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, list[ChunkSpan]]]:
        return self._scans.document_spans(doc_ids)

    def iter_chunks(self, batch_size: int = 1024) -> Iterator[list[Chunk]]:
        return self._scans.iter_chunks(batch_size)

    def all_ids(self) -> set[uuid.UUID]:
        return self._scans.all_ids()

    def count(self) -> int:
        return self._scans.count()

    def document_count(self) -> int:
        return self._scans.document_count()

    def status_counts(self, exact_below: int = 100_000) -> tuple[int, int]:
        return self._scans.status_counts(exact_below)

    def sample_embeddings(self, n: int) -> list[np.ndarray]:
        return self._scans.sample_embeddings(n)

    # ----------------------------------------------------------------------------- outbox (PostgresOutbox)

    def claim_outbox(
        self,
        limit: int,
        point_ids: Sequence[uuid.UUID] | None = None,
        known: Mapping[uuid.UUID, Chunk] | None = None,
    ) -> AbstractContextManager[OutboxBatch]:
        return self._outbox.claim_outbox(limit, point_ids, known)

    def outbox_pending(self) -> int:
        return self._outbox.outbox_pending()

    def outbox_point_ids(self, limit: int = 10_000) -> list[uuid.UUID]:
        return self._outbox.outbox_point_ids(limit)
