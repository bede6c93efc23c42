"""Reading a collection's chunks in bulk: by id, all of them page by page, their ids, counts and samples."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import numpy as np
from psycopg import sql

from faro_workloads.core.documents import Chunk, ChunkSpan
from faro_workloads.core.stores.postgres.chunk_rows import (
    CHUNK_SELECT,
    as_float32,
    chunk_from_row,
    select_chunks,
)
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables


def count_rows(pool: PostgresPool, table: sql.Identifier, operation: str) -> int:
    """``count(*)`` of ``table``, timed as ``operation``."""
    with pool.transaction(operation) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    return int(row[0]) if row else 0


class PostgresScans:
    """Whole-table reads of one collection, for repair, consistency checks, status and tests."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    def fetch_chunks(self, ids: Sequence[uuid.UUID]) -> list[Chunk]:
        """The chunks with these ids that exist, in the order of ``ids``."""
        if not ids:
            return []
        with self._pool.transaction("fetch_chunks") as conn:
            by_id = {chunk.id: chunk for chunk in select_chunks(conn, self._tables.chunks, list(ids))}
        return [by_id[i] for i in ids if i in by_id]

    def document_spans(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, list[ChunkSpan]]]:
        """The spans this table holds of ``doc_ids`` — doc_id -> (the content hash they were cut from, the
        spans in seq order) — without their vectors: one statement for all of them."""
        if not doc_ids:
            return {}
        statement = sql.SQL(
            "SELECT doc_id, content_hash, text, start_char, end_char, metadata FROM {} "
            "WHERE doc_id = ANY(%s) ORDER BY doc_id, seq"
        ).format(self._tables.chunks)
        wanted = list(doc_ids)
        rows = self._pool.read("document_spans", lambda conn: conn.execute(statement, (wanted,)).fetchall())
        spans: dict[str, tuple[str, list[ChunkSpan]]] = {}
        mixed: set[str] = set()
        for doc_id, digest, text, start, end, metadata in rows:
            held = spans.setdefault(doc_id, (digest, []))
            if held[0] != digest:
                mixed.add(doc_id)  # a write under way elsewhere: not a whole cut of one content
            held[1].append(ChunkSpan(text, start, end, metadata))
        return {doc_id: held for doc_id, held in spans.items() if doc_id not in mixed}

    def iter_chunks(self, batch_size: int = 1024) -> Iterator[list[Chunk]]:
        """Every chunk, in batches ordered by id (keyset pagination; one statement per batch, binary rows)."""
        last = uuid.UUID(int=0)  # point ids are uuid5, never the nil UUID
        statement = sql.SQL("SELECT {}, id FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(
            CHUNK_SELECT, self._tables.chunks
        )
        while True:
            rows = self._pool.read(
                "iter_chunks",
                lambda conn, after=last: conn.execute(statement, (after, batch_size), binary=True).fetchall(),
            )
            if not rows:
                return
            last = rows[-1][9]
            yield [chunk_from_row(row[:9]) for row in rows]
            if len(rows) < batch_size:
                return

    def all_ids(self) -> set[uuid.UUID]:
        """Every chunk's point id."""
        with self._pool.transaction("all_ids") as conn:
            rows = conn.execute(sql.SQL("SELECT id FROM {}").format(self._tables.chunks)).fetchall()
        return {row[0] for row in rows}

    def count(self) -> int:
        """Number of chunks."""
        return count_rows(self._pool, self._tables.chunks, "count")

    def document_count(self) -> int:
        """Number of documents."""
        return count_rows(self._pool, self._tables.documents, "document_count")

    def status_counts(self, exact_below: int = 100_000) -> tuple[int, int]:
        """(documents, chunks) for status displays: exact for small tables, the planner's estimate
        (``pg_class.reltuples``) above ``exact_below`` rows, so a periodic refresh never scans a big table."""
        counts = []
        for table, operation in ((self._tables.documents, "document_count"), (self._tables.chunks, "count")):
            with self._pool.transaction("estimate_count") as conn:
                row = conn.execute(
                    "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table.as_string(conn),)
                ).fetchone()
            estimate = float(row[0]) if row else -1.0
            counts.append(
                int(estimate) if estimate >= exact_below else count_rows(self._pool, table, operation)
            )
        return counts[0], counts[1]

    def sample_embeddings(self, n: int) -> list[np.ndarray]:
        """Up to ``n`` stored embeddings chosen at random (Bernoulli table sample first on big tables)."""
        chunks = self._tables.chunks
        with self._pool.transaction("sample_embeddings") as conn:
            estimate_row = conn.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (chunks.as_string(conn),)
            ).fetchone()
            estimate = float(estimate_row[0]) if estimate_row else -1.0
            if estimate > 20 * n and estimate > 10_000:
                percent = min(100.0, 100.0 * 4 * n / estimate)
                sample = sql.SQL("TABLESAMPLE BERNOULLI ({})").format(sql.Literal(percent))
            else:
                sample = sql.SQL("")
            rows = conn.execute(
                sql.SQL("SELECT embedding FROM {} {} ORDER BY random() LIMIT %s").format(chunks, sample),
                (n,),
                binary=True,
            ).fetchall()
        return [as_float32(row[0]) for row in rows]
