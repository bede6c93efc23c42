"""The outbox table: Qdrant work still to do, claimed in batches by the drainer.

A row only *names* a point id (and its doc_id, for logs); the point's current state is read from the chunks
table when the row is applied, so applying rows is idempotent and order-insensitive (present -> upsert to
Qdrant, absent -> delete from Qdrant). A writer that still holds the chunks it wrote passes them as
``known``: a known chunk is used as it is when the table still holds it (same content, model and metadata),
and only its identity is read back, not its vector and text.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import sql

from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.ports import OutboxBatch
from faro_workloads.core.stores.postgres.chunk_rows import select_chunks
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables


class PostgresOutbox:
    """Claiming, counting and listing one collection's pending outbox rows."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    @contextmanager
    def claim_outbox(
        self,
        limit: int,
        point_ids: Sequence[uuid.UUID] | None = None,
        known: Mapping[uuid.UUID, Chunk] | None = None,
    ) -> Iterator[OutboxBatch]:
        """Claim up to ``limit`` outbox rows (oldest first) and yield them with the state to apply.

        The claim is one transaction: claimed rows are locked (``FOR UPDATE SKIP LOCKED``) and deleted by
        their row ids when the ``with`` block exits normally, then committed. If the block raises (Qdrant
        failed), the transaction rolls back and the rows stay for a later drain. ``point_ids`` restricts the
        claim to rows naming those points; ``known``: chunks the caller just wrote (see the module docstring).

        Claims of one collection are serialised by a transaction-level advisory lock, so two drainers never
        push different snapshots of the same point to Qdrant out of order.
        """
        outbox, generation = self._tables.outbox, self._tables.generation
        condition = sql.SQL("AND point_id = ANY(%(points)s)") if point_ids is not None else sql.SQL("")
        with self._pool.transaction("outbox_apply") as conn:
            lock = f"faro.outbox:{outbox.as_string(conn)}:{generation}"
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            rows = conn.execute(
                sql.SQL(
                    "SELECT id, point_id FROM {} WHERE generation = %(generation)s {} "
                    "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
                ).format(outbox, condition),
                {"limit": limit, "points": list(point_ids or []), "generation": generation},
            ).fetchall()
            row_ids = [row[0] for row in rows]
            named = list(dict.fromkeys(row[1] for row in rows))
            chunks = self._current(conn, named, known or {}) if named else []
            present = {chunk.id for chunk in chunks}
            yield OutboxBatch(row_ids, named, chunks, [i for i in named if i not in present])
            if row_ids:
                conn.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(outbox), (row_ids,))

    def _current(
        self, conn: psycopg.Connection, named: list[uuid.UUID], known: Mapping[uuid.UUID, Chunk]
    ) -> list[Chunk]:
        """The chunks table's current state of ``named``: ``known`` chunks it still holds as they are, the
        others read."""
        candidates = [point for point in named if point in known]
        if not candidates:
            return select_chunks(conn, self._tables.chunks, named)
        held = {
            point: (digest, model, metadata)
            for point, digest, model, metadata in conn.execute(
                sql.SQL("SELECT id, content_hash, model, metadata FROM {} WHERE id = ANY(%s)").format(
                    self._tables.chunks
                ),
                (candidates,),
            )
        }
        same = [
            known[point]
            for point in candidates
            if held.get(point) == (known[point].content_hash, known[point].model, known[point].metadata)
        ]
        reused = {chunk.id for chunk in same}
        rest = [point for point in named if point not in reused]
        return same + (select_chunks(conn, self._tables.chunks, rest) if rest else [])

    def outbox_pending(self) -> int:
        """Number of this generation's outbox rows not yet applied to Qdrant."""
        with self._pool.transaction("outbox_pending") as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE generation = %s").format(self._tables.outbox),
                (self._tables.generation,),
            ).fetchone()
        return int(row[0]) if row else 0

    def outbox_point_ids(self, limit: int = 10_000) -> list[uuid.UUID]:
        """Point ids named by this generation's pending outbox rows, oldest first (repeats kept), at most
        ``limit``."""
        with self._pool.transaction("outbox_point_ids") as conn:
            rows = conn.execute(
                sql.SQL("SELECT point_id FROM {} WHERE generation = %s ORDER BY id LIMIT %s").format(
                    self._tables.outbox
                ),
                (self._tables.generation, limit),
            ).fetchall()
        return [row[0] for row in rows]
