"""The embedding cache, ``{name}_embedding_cache``: vectors by (model key, SHA-256 of the embedded text).

A chunk whose text was embedded before by the same model is not sent to the model again: editing one
paragraph of a long document embeds the chunks whose text changed, a re-chunk embeds the chunks that
differ, and an embedding survives the process that paid for it (a kill -9 between the model's answer and
the document's commit loses nothing). Entries are committed at once, in their own transaction.

The cache holds what the collection's chunks hold, plus a grace period: :meth:`prune` deletes entries
older than the grace whose text no chunk has any more (replaced paragraphs, deleted documents).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import psycopg
from psycopg import sql

from faro_workloads.core.documents import CONTEXT_KEY
from faro_workloads.core.stores.postgres.chunk_rows import as_float32
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables


def create_embedding_cache_table(conn: psycopg.Connection, tables: CollectionTables) -> None:
    """``{name}_embedding_cache`` (idempotent). The vector column has no dimension: one collection may
    meet several models over its life."""
    conn.execute(
        sql.SQL(
            """
            CREATE TABLE IF NOT EXISTS {} (
                model_key text NOT NULL,
                text_hash bytea NOT NULL,
                embedding vector NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (model_key, text_hash)
            )
            """
        ).format(tables.embedding_cache)
    )


STAGING = "faro_embedding_cache_staging"
"""The session temp table new entries are COPYed into before they are inserted."""


class PostgresEmbeddingCache:
    """One collection's embedding cache (see the module docstring)."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    def cached_embeddings(self, model_key: str, text_hashes: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors of those of ``text_hashes`` the model embedded before, by hash (one query)."""
        if not text_hashes:
            return {}
        with self._pool.transaction("cached_embeddings") as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT text_hash, embedding FROM {} WHERE model_key = %s AND text_hash = ANY(%s)"
                ).format(self._tables.embedding_cache),
                (model_key, list(text_hashes)),
            ).fetchall()
        return {bytes(digest): as_float32(vector) for digest, vector in rows}

    def remember_embeddings(self, model_key: str, embeddings: Mapping[bytes, np.ndarray]) -> None:
        """Keep ``embeddings`` (by text hash), committed now; an entry already there is left as it is."""
        if not embeddings:
            return
        cache = self._tables.embedding_cache
        with self._pool.transaction("remember_embeddings") as conn:
            # Binary COPY into a session temp table, then one INSERT (in hash order: concurrent writers take
            # the keys' locks in the same order) — a row-by-row INSERT cost more than the hash model.
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (text_hash bytea, embedding vector) "
                    "ON COMMIT DELETE ROWS"
                ).format(sql.Identifier(STAGING))
            )
            with conn.cursor().copy(
                sql.SQL("COPY {} (text_hash, embedding) FROM STDIN WITH (FORMAT BINARY)").format(
                    sql.Identifier(STAGING)
                )
            ) as copy:
                copy.set_types(["bytea", "vector"])
                for digest, vector in embeddings.items():
                    copy.write_row((digest, np.asarray(vector, dtype=np.float32)))
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (model_key, text_hash, embedding) "
                    "SELECT %s, text_hash, embedding FROM {} ORDER BY text_hash "
                    "ON CONFLICT (model_key, text_hash) DO NOTHING"
                ).format(cache, sql.Identifier(STAGING)),
                (model_key,),
            )

    def prune(self, grace_seconds: float) -> int:
        """Delete entries older than ``grace_seconds`` whose text no chunk holds; returns how many. A chunk
        holds the text it was embedded as: its context (``embedded_context`` metadata), a blank line and
        its text (:func:`~faro_workloads.core.chunking.context.embedded_text`)."""
        tables = self._tables
        with self._pool.transaction("prune_embedding_cache") as conn:
            deleted = conn.execute(
                sql.SQL(
                    """
                    DELETE FROM {cache} AS cached
                    WHERE cached.created_at < now() - make_interval(secs => %s)
                      AND NOT EXISTS (
                        SELECT 1 FROM {chunks} AS chunk
                        WHERE sha256(convert_to(
                            CASE WHEN coalesce(chunk.metadata ->> %s, '') = '' THEN chunk.text
                                 ELSE (chunk.metadata ->> %s) || E'\\n\\n' || chunk.text END,
                            'UTF8')) = cached.text_hash
                      )
                    """
                ).format(cache=tables.embedding_cache, chunks=tables.chunks),
                (grace_seconds, CONTEXT_KEY, CONTEXT_KEY),
            )
            return deleted.rowcount
