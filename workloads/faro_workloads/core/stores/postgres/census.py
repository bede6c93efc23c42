"""PostgreSQL's side of the census (:mod:`faro_workloads.core.census`): the listing of acknowledged documents
COPYed into a session temp table, joined with ``{name}_documents`` and ``{name}_document_marks``.

One pooled connection holds the temp table for the session; gaps are read back by keyset pagination (no
long transaction), so the orphans can be deleted while they are read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from faro_workloads.core.census import CensusCounts, Gap, ListedObject
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables

LISTING = sql.Identifier("faro_census_listing")
PAGE = 500

# Each acknowledged document, with what PostgreSQL holds of it: "stale" when PostgreSQL has no version or
# another one (a version recorded as '' predates recorded versions: "unverified", not stale).
_JOINED = """
    SELECT a.doc_id, a.modified,
        (d.doc_id IS NULL OR (d.source_etag <> '' AND d.source_etag <> a.etag)) AS stale,
        (d.doc_id IS NOT NULL AND d.source_etag = '') AS unverified,
        EXISTS (SELECT 1 FROM {marks} m WHERE m.doc_id = a.doc_id AND m.kind = 'failed') AS failed
    FROM {listing} a LEFT JOIN {documents} d ON d.doc_id = a.doc_id
"""
_GAP_CONDITIONS: dict[str, str] = {
    "missing_in_postgres": "stale AND NOT failed AND modified < %(cutoff)s",
    "in_flight": "stale AND NOT failed AND modified >= %(cutoff)s",
    "failed": "stale AND failed",
    "unverified": "unverified",
}


class PostgresCensusSession:
    def __init__(self, conn: psycopg.Connection, tables: CollectionTables, listed_at: datetime, grace: float):
        self._conn = conn
        self._tables = tables
        self._params = {"cutoff": listed_at - timedelta(seconds=grace), "listed_at": listed_at}

    def _joined(self) -> sql.Composed:
        tables = self._tables
        return sql.SQL(_JOINED).format(marks=tables.marks, listing=LISTING, documents=tables.documents)

    def counts(self) -> CensusCounts:
        filters = sql.SQL(", ").join(
            sql.SQL("count(*) FILTER (WHERE " + condition + ")") for condition in _GAP_CONDITIONS.values()
        )
        row = self._conn.execute(
            sql.SQL("SELECT count(*), {} FROM ({}) AS joined").format(filters, self._joined()), self._params
        ).fetchone()
        assert row is not None
        acknowledged, missing, in_flight, failed, unverified = row
        documents = self._conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._tables.documents))
        orphans = self._conn.execute(
            sql.SQL("SELECT count(*) FROM ({}) AS orphans").format(self._orphans()), self._params
        )
        return CensusCounts(
            acknowledged=acknowledged,
            postgres=documents.fetchone()[0],  # type: ignore[index]
            missing_in_postgres=missing,
            in_flight=in_flight,
            failed=failed,
            unverified=unverified,
            orphans=orphans.fetchone()[0],  # type: ignore[index]
        )

    def _orphans(self) -> sql.Composed:
        """Documents PostgreSQL stored before the listing started that no acknowledged object names."""
        return sql.SQL(
            "SELECT d.doc_id FROM {documents} d WHERE d.updated_at < %(listed_at)s "
            "AND NOT EXISTS (SELECT 1 FROM {listing} a WHERE a.doc_id = d.doc_id)"
        ).format(documents=self._tables.documents, listing=LISTING)

    def doc_ids(self, gap: Gap, limit: int | None = None) -> Iterator[list[str]]:
        if gap == "orphans":
            source = self._orphans()
        else:
            source = sql.SQL("SELECT doc_id FROM ({}) AS joined WHERE " + _GAP_CONDITIONS[gap]).format(
                self._joined()
            )
        after, left = "", limit
        while left is None or left > 0:
            size = PAGE if left is None else min(PAGE, left)
            rows = self._conn.execute(
                sql.SQL(
                    "SELECT doc_id FROM ({}) AS gap WHERE doc_id > %(after)s ORDER BY doc_id LIMIT {}"
                ).format(source, sql.Literal(size)),
                {**self._params, "after": after},
            ).fetchall()
            if not rows:
                return
            yield [row[0] for row in rows]
            after = rows[-1][0]
            left = None if left is None else left - len(rows)


class PostgresCensus:
    """Opens census sessions over one collection's tables."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    @contextmanager
    def census(
        self, listing: Iterable[list[ListedObject]], listed_at: datetime, grace_seconds: float
    ) -> Iterator[PostgresCensusSession]:
        """A session over ``listing`` (streamed into a temp table, dropped when the session ends)."""
        with self._pool.connection("census") as conn:
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} "
                    "(doc_id text PRIMARY KEY, etag text NOT NULL, modified timestamptz NOT NULL)"
                ).format(LISTING)
            )
            try:
                conn.execute(sql.SQL("TRUNCATE {}").format(LISTING))
                with conn.cursor().copy(
                    sql.SQL("COPY {} (doc_id, etag, modified) FROM STDIN").format(LISTING)
                ) as copy:
                    for page in listing:
                        for listed in page:
                            copy.write_row((listed.doc_id, listed.etag, listed.modified))
                conn.execute(sql.SQL("ANALYZE {}").format(LISTING))
                yield PostgresCensusSession(conn, self._tables, listed_at, grace_seconds)
            finally:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(LISTING))

    def documents_of_points(self, point_ids: Sequence[uuid.UUID]) -> set[str]:
        """The documents whose chunks (of this generation) include ``point_ids``."""
        with self._pool.transaction("documents_of_points") as conn:
            rows = conn.execute(
                sql.SQL("SELECT DISTINCT doc_id FROM {} WHERE id = ANY(%s)").format(self._tables.chunks),
                (list(point_ids),),
            ).fetchall()
        return {row[0] for row in rows}
