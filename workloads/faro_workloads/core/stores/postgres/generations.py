"""The generations registry, ``{name}_generations``, and the SQL that compares a generation's chunks with the
documents: which documents it lacks at their current content, which it holds that are gone or changed.

The registry is the truth about which generation is live. At most one row is Live and at most one Building
(partial unique indexes). Writers of documents hold a shared advisory lock of the collection for their
transaction; a cutover holds it exclusively while it checks that the new generation is complete and flips
the states, so no write can land between the check and the switch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from faro_workloads.contract.generations import CutoverBlock, Generation, GenerationState
from faro_workloads.contract.index_profile import IndexProfile
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables, add_missing_columns


def create_generations_table(conn: psycopg.Connection, tables: CollectionTables) -> None:
    """``{name}_generations`` with its one-Live and one-Building indexes (idempotent)."""
    conn.execute(
        sql.SQL(
            """
            CREATE TABLE IF NOT EXISTS {} (
                id integer PRIMARY KEY,
                profile jsonb NOT NULL,
                state text NOT NULL CHECK (state IN ('Building', 'Live', 'Retired')),
                created_at timestamptz NOT NULL DEFAULT now(),
                live_since timestamptz,
                retired_at timestamptz,
                approved_at timestamptz
            )
            """
        ).format(tables.generations)
    )
    add_missing_columns(
        conn,
        tables.generations,
        [("approved_at", "timestamptz"), ("blocked_reason", "text"), ("blocked_message", "text")],
    )
    name = tables.collection.name
    for state in (GenerationState.LIVE, GenerationState.BUILDING):
        conn.execute(
            sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (state) WHERE state = {}").format(
                sql.Identifier(f"{name}_generations_one_{state.value.lower()}"),
                tables.generations,
                sql.Literal(state.value),
            )
        )


def writer_lock(conn: psycopg.Connection, tables: CollectionTables, exclusive: bool = False) -> None:
    """The collection's cutover lock for this transaction: shared for writers of documents, exclusive for a
    cutover (which then sees no write in flight and lets none start until it commits)."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    conn.execute(
        sql.SQL("SELECT {}(hashtext(%s))").format(sql.Identifier(function)),
        (f"faro.cutover:{tables.documents.as_string(conn)}",),
    )


def _missing_sql(tables: CollectionTables) -> sql.Composed:
    """Documents the generation's chunks table lacks at their current content hash."""
    return sql.SQL(
        "FROM {documents} AS d WHERE NOT EXISTS "
        "(SELECT 1 FROM {chunks} AS c WHERE c.doc_id = d.doc_id AND c.content_hash = d.content_hash)"
    ).format(documents=tables.documents, chunks=tables.chunks)


def _stale_sql(tables: CollectionTables) -> sql.Composed:
    """Documents whose chunks in the generation are of a deleted document or an older content."""
    return sql.SQL(
        "FROM {chunks} AS c WHERE NOT EXISTS "
        "(SELECT 1 FROM {documents} AS d WHERE d.doc_id = c.doc_id AND d.content_hash = c.content_hash)"
    ).format(documents=tables.documents, chunks=tables.chunks)


class PostgresGenerations:
    """One collection's generations registry, seen from one generation's tables (``tables.generation``)."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    def generations(self) -> list[Generation]:
        """Every registered generation, oldest first; none while the registry does not exist (a collection no
        generations-aware process has opened yet, or one being dropped)."""
        try:
            with self._pool.transaction("generations") as conn:
                rows = conn.execute(
                    sql.SQL(f"SELECT {_COLUMNS} FROM {{}} ORDER BY id").format(self._tables.generations)
                ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        return [_generation(row) for row in rows]

    def register_generation(
        self, profile: IndexProfile, state: GenerationState, at: int | None = None
    ) -> Generation:
        """Register a new generation (the next id, or ``at``) in ``state``; a Live one has ``live_since``."""
        with self._pool.transaction("register_generation") as conn:
            conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(self._tables.generations))
            if at is None:
                row = conn.execute(
                    sql.SQL("SELECT coalesce(max(id), 0) + 1 FROM {}").format(self._tables.generations)
                ).fetchone()
                assert row is not None
                at = int(row[0])
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (id, profile, state, live_since) "
                    "VALUES (%s, %s, %s, CASE WHEN %s = 'Live' THEN now() END) "
                    f"RETURNING {_COLUMNS}"
                ).format(self._tables.generations),
                (at, Jsonb(profile.model_dump(mode="json")), state.value, state.value),
            ).fetchone()
        assert row is not None
        return _generation(row)

    def approve_generation(self, generation: int) -> bool:
        """Record the approval of a Manual cutover to the building ``generation``; False when none builds
        under that id."""
        with self._pool.transaction("approve_generation") as conn:
            row = conn.execute(
                sql.SQL(
                    "UPDATE {} SET approved_at = coalesce(approved_at, now()) "
                    "WHERE id = %s AND state = 'Building' RETURNING id"
                ).format(self._tables.generations),
                (generation,),
            ).fetchone()
        return row is not None

    def record_block(self, generation: int, reason: CutoverBlock | None, message: str | None) -> None:
        """Record why the cutover to ``generation`` did not happen (None: it is not blocked)."""
        with self._pool.transaction("record_cutover_block") as conn:
            conn.execute(
                sql.SQL("UPDATE {} SET blocked_reason = %s, blocked_message = %s WHERE id = %s").format(
                    self._tables.generations
                ),
                (reason.value if reason else None, message, generation),
            )

    @contextmanager
    def generations_lock(self) -> Iterator[bool]:
        """Try to take the collection's generations lock for the block (True when taken): one process at
        a time plans, backfills and cuts over. PostgreSQL frees it should the process die."""
        with self._pool.connection("generations_lock") as conn:
            key = f"faro.generations:{self._tables.documents.as_string(conn)}"
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
            taken = bool(row and row[0])
            try:
                yield taken
            finally:
                if taken:
                    conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    def forget_generation(self, generation: int) -> None:
        """Remove a (non-live) generation from the registry and drop its outbox rows."""
        tables = self._tables
        with self._pool.transaction("forget_generation") as conn:
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = %s AND state <> 'Live'").format(tables.generations),
                (generation,),
            )
            conn.execute(sql.SQL("DELETE FROM {} WHERE generation = %s").format(tables.outbox), (generation,))

    def missing_documents(self, limit: int, after: str = "") -> list[tuple[str, str]]:
        """Up to ``limit`` (doc_id, content_hash) of documents this generation lacks at their content, in
        doc_id order after ``after``."""
        with self._pool.transaction("generation_missing") as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT d.doc_id, d.content_hash {} AND d.doc_id > %s ORDER BY d.doc_id LIMIT %s"
                ).format(_missing_sql(self._tables)),
                (after, limit),
            ).fetchall()
        return [(doc_id, digest) for doc_id, digest in rows]

    def stale_documents(self, limit: int, after: str = "") -> list[str]:
        """Up to ``limit`` doc_ids whose chunks in this generation no current document matches, in doc_id
        order after ``after``."""
        with self._pool.transaction("generation_stale") as conn:
            rows = conn.execute(
                sql.SQL("SELECT DISTINCT c.doc_id {} AND c.doc_id > %s ORDER BY c.doc_id LIMIT %s").format(
                    _stale_sql(self._tables)
                ),
                (after, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def completeness(self) -> tuple[int, int, int]:
        """(documents, documents this generation lacks at their content, documents of it that are stale)."""
        with self._pool.transaction("generation_completeness") as conn:
            return _completeness(conn, self._tables)

    def promote(self, require_complete: bool = True) -> tuple[int, int, int] | None:
        """Make this generation Live and the Live one Retired, in one transaction under the exclusive
        cutover lock. With ``require_complete``, only when this generation lacks no document and holds no
        stale one at that moment: returns None when promoted, else the (documents, missing, stale) counts
        that stopped it. The documents' ``profile`` and ``chunk_count`` are set to this generation's."""
        tables = self._tables
        with self._pool.transaction("promote_generation") as conn:
            writer_lock(conn, tables, exclusive=True)
            counts = _completeness(conn, tables)
            if require_complete and (counts[1] or counts[2]):
                return counts
            row = conn.execute(
                sql.SQL("SELECT profile FROM {} WHERE id = %s").format(tables.generations),
                (tables.generation,),
            ).fetchone()
            if row is None:
                raise LookupError(f"generation {tables.generation} is not registered")
            fingerprint = IndexProfile.model_validate(row[0]).fingerprint
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET state = 'Retired', retired_at = now() WHERE state = 'Live' AND id <> %s"
                ).format(tables.generations),
                (tables.generation,),
            )
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET state = 'Live', live_since = now(), retired_at = NULL WHERE id = %s"
                ).format(tables.generations),
                (tables.generation,),
            )
            conn.execute(
                sql.SQL(
                    """
                    UPDATE {documents} AS d SET profile = %s, chunk_count = coalesce(counted.chunks, 0)
                    FROM {documents} AS all_documents LEFT JOIN (
                        SELECT doc_id, count(*) AS chunks FROM {chunks} GROUP BY doc_id
                    ) AS counted ON counted.doc_id = all_documents.doc_id
                    WHERE d.doc_id = all_documents.doc_id
                    """
                ).format(documents=tables.documents, chunks=tables.chunks),
                (fingerprint,),
            )
        return None


def _completeness(conn: psycopg.Connection, tables: CollectionTables) -> tuple[int, int, int]:
    documents = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(tables.documents)).fetchone()
    missing = conn.execute(sql.SQL("SELECT count(*) {}").format(_missing_sql(tables))).fetchone()
    stale = conn.execute(sql.SQL("SELECT count(DISTINCT c.doc_id) {}").format(_stale_sql(tables))).fetchone()
    assert documents is not None and missing is not None and stale is not None
    return int(documents[0]), int(missing[0]), int(stale[0])


_COLUMNS = (
    "id, profile, state, created_at, live_since, retired_at, approved_at, blocked_reason, blocked_message"
)
_Row = tuple[
    int, dict, str, datetime, datetime | None, datetime | None, datetime | None, str | None, str | None
]


def _generation(row: _Row) -> Generation:
    generation, profile, state, created_at, live_since, retired_at, approved_at, reason, message = row
    return Generation(
        id=generation,
        profile=IndexProfile.model_validate(profile),
        state=GenerationState(state),
        created_at=created_at,
        live_since=live_since,
        retired_at=retired_at,
        approved_at=approved_at,
        blocked_reason=CutoverBlock(reason) if reason else None,
        blocked_message=message,
    )
