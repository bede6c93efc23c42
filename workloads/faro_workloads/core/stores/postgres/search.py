"""Searching one generation's chunks in PostgreSQL + pgvector, from threads (:class:`PostgresSearch`) or on
an event loop (:class:`AsyncPostgresSearch`, the query service's path): the same statements
(:mod:`.search_statements`), each search one round trip."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import partial

import numpy as np
import psycopg

from faro_workloads.contract.settings import PostgresConfig
from faro_workloads.core.documents import RankedChunk, SearchHit
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres.async_pool import AsyncPostgresPool
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.search_statements import (
    Row,
    SearchStatements,
    Statement,
    ranked_hits,
)
from faro_workloads.core.stores.postgres.tables import CollectionTables


class PostgresSearch:
    """k-nearest-neighbour and BM25 queries over one collection's chunks table."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables, config: PostgresConfig) -> None:
        self._pool = pool
        self.statements = SearchStatements(tables, config.ef_search)

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` nearest chunks, scored like Qdrant scores them (see :meth:`SearchStatements.dense`)."""
        dense = self.statements.dense(vector, k, flt)
        return self.statements.dense_hits(self._pool.read("search", lambda conn: _rows(conn, dense)))

    def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        """The ``k`` nearest chunks, at most ``per_document`` of a document, among the ``candidates`` nearest
        (grouped in PostgreSQL: see :meth:`SearchStatements.grouped`)."""
        grouped = self.statements.grouped(vector, k, per_document, candidates, flt)
        return self.statements.dense_hits(self._pool.read("search", lambda conn: _rows(conn, grouped)))

    def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]:
        """A hybrid query's two rankings, :meth:`search`'s and :meth:`search_lexical`'s, as ids and scores,
        pipelined in one round trip on one connection."""
        dense = self.statements.dense(vector, k, flt, ranked=True)
        lexical = self.statements.lexical(query, k, flt, ranked=True) if query else None

        def read(conn: psycopg.Connection) -> tuple[list[Row], list[Row]]:
            with conn.pipeline(), conn.transaction():
                by_vector = dense.run(conn)
                by_words = lexical.run(conn) if lexical is not None else None
            return by_vector.fetchall(), by_words.fetchall() if by_words is not None else []

        vector_rows, word_rows = self._pool.read("rank_both", read)
        return self.statements.dense_ranking(vector_rows), self.statements.lexical_ranking(word_rows)

    def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]:
        """The chunks of ``ranking`` as hits, in its order and with its scores (one statement)."""
        if not ranking:
            return []
        rows = self.statements.chunk_rows([chunk.id for chunk in ranking])
        return ranked_hits(ranking, self._pool.read("ranked_hits", lambda conn: _rows(conn, rows)))

    def search_lexical(self, query: SparseVector, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` chunks with the highest BM25 score for ``query``'s terms (none without terms; see
        :meth:`SearchStatements.lexical`)."""
        if not query:
            return []
        lexical = self.statements.lexical(query, k, flt)
        rows = self._pool.read("search_lexical", lambda conn: _rows(conn, lexical))
        return self.statements.lexical_hits(rows)

    def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The text of the chunks with these ids that exist (one statement)."""
        if not ids:
            return {}
        texts = self.statements.chunk_texts(ids)
        return dict(self._pool.read("chunk_texts", lambda conn: _rows(conn, texts)))


def _rows(conn: psycopg.Connection, statement: Statement) -> list[Row]:
    """``statement``'s rows: one statement, or pipelined in a transaction behind its settings."""
    if not statement.settings:
        return conn.execute(statement.statement, statement.params).fetchall()
    with conn.pipeline(), conn.transaction():
        cursor = statement.run(conn)
    return cursor.fetchall()


class AsyncPostgresSearch:
    """:class:`PostgresSearch` on an event loop (the query service's path): the same statements, each search
    one round trip on an asynchronous pooled connection (:class:`AsyncPostgresPool`)."""

    def __init__(self, pool: AsyncPostgresPool, statements: SearchStatements) -> None:
        self._pool = pool
        self._statements = statements

    async def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        dense = self._statements.dense(vector, k, flt)
        return self._statements.dense_hits(await self._pool.read("search", partial(_rows_async, dense)))

    async def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        grouped = self._statements.grouped(vector, k, per_document, candidates, flt)
        return self._statements.dense_hits(await self._pool.read("search", partial(_rows_async, grouped)))

    async def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]:
        dense = self._statements.dense(vector, k, flt, ranked=True)
        lexical = self._statements.lexical(query, k, flt, ranked=True) if query else None

        async def read(conn: psycopg.AsyncConnection) -> tuple[list[Row], list[Row]]:
            async with conn.pipeline(), conn.transaction():
                by_vector = await dense.run_async(conn)
                by_words = await lexical.run_async(conn) if lexical is not None else None
            return await by_vector.fetchall(), await by_words.fetchall() if by_words is not None else []

        vector_rows, word_rows = await self._pool.read("rank_both", read)
        return self._statements.dense_ranking(vector_rows), self._statements.lexical_ranking(word_rows)

    async def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]:
        if not ranking:
            return []
        rows = self._statements.chunk_rows([chunk.id for chunk in ranking])
        return ranked_hits(ranking, await self._pool.read("ranked_hits", partial(_rows_async, rows)))

    async def search_lexical(
        self, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        if not query:
            return []
        lexical = self._statements.lexical(query, k, flt)
        return self._statements.lexical_hits(
            await self._pool.read("search_lexical", partial(_rows_async, lexical))
        )

    async def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not ids:
            return {}
        texts = self._statements.chunk_texts(ids)
        return dict(await self._pool.read("chunk_texts", partial(_rows_async, texts)))


async def _rows_async(statement: Statement, conn: psycopg.AsyncConnection) -> list[Row]:
    """:func:`_rows` on an asynchronous connection."""
    if not statement.settings:
        cursor = await conn.execute(statement.statement, statement.params)
        return await cursor.fetchall()
    async with conn.pipeline(), conn.transaction():
        cursor = await statement.run_async(conn)
    return await cursor.fetchall()
