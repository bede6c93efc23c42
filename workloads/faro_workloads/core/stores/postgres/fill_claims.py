"""Claims on the documents a backfill is filling, so that several processes (the embedding engine's
replicas) share one generation's backfill without embedding a document twice.

A claim is a session-level PostgreSQL advisory lock per (generation's table, document), taken with
``pg_try_advisory_lock`` on a connection of its own, held while the document is cut, embedded and written,
then released. A process that dies (``kill -9`` included) loses its connection and so its claims at once:
another process takes the documents on its next pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg

from faro_workloads.contract.settings import PostgresConfig
from faro_workloads.core.stores.postgres.tables import CollectionTables

_KEYS = "SELECT d, hashtextextended(%(prefix)s || d, 0) AS k FROM unnest(%(docs)s::text[]) AS d"


class FillClaims:
    """The claims of one backfill pass, on one connection (the pass's reader claims, its writer releases:
    psycopg runs a connection's statements one at a time)."""

    def __init__(self, conn: psycopg.Connection, prefix: str) -> None:
        self._conn = conn
        self._prefix = prefix

    def claim(self, doc_ids: Sequence[str]) -> set[str]:
        """Those of ``doc_ids`` this pass now holds (the others are being filled by another process)."""
        if not doc_ids:
            return set()
        rows = self._conn.execute(
            f"SELECT d FROM ({_KEYS}) AS keys WHERE pg_try_advisory_lock(k)",
            {"prefix": self._prefix, "docs": list(doc_ids)},
        ).fetchall()
        return {row[0] for row in rows}

    def release(self, doc_ids: Sequence[str]) -> None:
        """Let go of ``doc_ids`` (claimed by :meth:`claim`)."""
        if doc_ids:
            self._conn.execute(
                f"SELECT pg_advisory_unlock(k) FROM ({_KEYS}) AS keys",
                {"prefix": self._prefix, "docs": list(doc_ids)},
            )


@contextmanager
def fill_claims(config: PostgresConfig, tables: CollectionTables) -> Iterator[FillClaims]:
    """Claims for one pass over ``tables.chunks``, on a connection of their own (outside the store's pool,
    which the pass's reads and writes use meanwhile); every claim is released when the block ends."""
    with psycopg.connect(
        config.dsn.get_secret_value(),
        autocommit=True,
        connect_timeout=max(1, round(config.connect_timeout_seconds)),
    ) as conn:
        prefix = f"faro.fill:{tables.chunks.as_string(conn)}:"
        try:
            yield FillClaims(conn, prefix)
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock_all()")
