"""PostgreSQL's side of the census (:mod:`faro_workloads.core.census`): the listing of acknowledged documents
COPYed into a session temp table, joined with ``{name}_documents``, ``{name}_document_marks`` and
``{name}_requeued`` (what earlier censuses sent to the embedding engine, and when).

One pooled connection holds the temp table for the session; gaps are read back by keyset pagination (no
long transaction), so the orphans can be deleted while they are read.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from faro_workloads.core.census import CensusCounts, CensusScope, Gap, ListedObject
from faro_workloads.core.source_documents import SOURCE_SCHEME
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables

LISTING = sql.Identifier("faro_census_listing")
STAGING = sql.Identifier("faro_census_staging")
PAGE = 500
log = logging.getLogger(__name__)
REQUEUED_RETENTION = timedelta(days=8)  # longer than the longest requeue timeout

# Each acknowledged document, with what PostgreSQL holds of it: "stale" when PostgreSQL has no version or
# another one (a version recorded as '' predates recorded versions: "unverified", not stale); "sent" when a
# census sent this very version to the embedding engine within the requeue timeout (it is on its way).
_JOINED = """
    SELECT a.doc_id, a.key, a.modified,
        (d.doc_id IS NULL OR (d.source_etag <> '' AND d.source_etag <> a.etag)) AS stale,
        (d.doc_id IS NOT NULL AND d.source_etag = '') AS unverified,
        EXISTS (SELECT 1 FROM {marks} m WHERE m.doc_id = a.doc_id AND m.kind = 'failed') AS failed,
        EXISTS (
            SELECT 1 FROM {requeued} r
            WHERE r.doc_id = a.doc_id AND r.etag = a.etag AND r.requeued_at >= %(sent_since)s
        ) AS sent
    FROM {listing} a LEFT JOIN {documents} d ON d.doc_id = a.doc_id
"""
_GAP_CONDITIONS: dict[str, str] = {
    "missing_in_postgres": "stale AND NOT failed AND NOT sent AND modified < %(cutoff)s",
    "in_flight": "stale AND NOT failed AND (sent OR modified >= %(cutoff)s)",
    "failed": "stale AND failed",
    "unverified": "unverified AND NOT sent",
}


def create_requeued_table(conn: psycopg.Connection, tables: CollectionTables) -> None:
    """``{name}_requeued`` (idempotent): the version of each document a census last sent, and when."""
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} "
            "(doc_id text PRIMARY KEY, etag text NOT NULL, requeued_at timestamptz NOT NULL DEFAULT now())"
        ).format(tables.requeued)
    )


class PostgresCensusSession:
    def __init__(
        self,
        conn: psycopg.Connection,
        tables: CollectionTables,
        scope: CensusScope,
        listed_at: datetime,
        grace: float,
        requeue_timeout: float,
    ) -> None:
        self._conn = conn
        self._tables = tables
        self._params: dict[str, object] = {
            "cutoff": listed_at - timedelta(seconds=grace),
            "sent_since": listed_at - timedelta(seconds=requeue_timeout),
            "listed_at": listed_at,
            "origin": _like_prefix(scope.source_prefix or SOURCE_SCHEME),
        }
        # Orphans of a bucket source are its documents (read from its prefix) that the listing lacks; of the
        # chunk objects, every other document (uploads) that the listing lacks: CensusScope.owns in SQL.
        self._origin = sql.SQL(
            "d.source LIKE %(origin)s" if scope.source_prefix else "d.source NOT LIKE %(origin)s"
        )

    def _joined(self) -> sql.Composed:
        tables = self._tables
        return sql.SQL(_JOINED).format(
            marks=tables.marks, requeued=tables.requeued, listing=LISTING, documents=tables.documents
        )

    def counts(self) -> CensusCounts:
        filters = sql.SQL(", ").join(
            sql.SQL("count(*) FILTER (WHERE " + condition + ")") for condition in _GAP_CONDITIONS.values()
        )
        row = self._conn.execute(
            sql.SQL("SELECT count(*), {} FROM ({}) AS joined").format(filters, self._joined()), self._params
        ).fetchone()
        assert row is not None
        acknowledged, missing, in_flight, failed, unverified = row
        documents = self._conn.execute(
            sql.SQL("SELECT count(*) FROM {} d WHERE {}").format(self._tables.documents, self._origin),
            self._params,
        )
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
        """Documents of the scope stored before the listing started that no listed object names."""
        return sql.SQL(
            "SELECT d.doc_id, '' AS key FROM {documents} d WHERE d.updated_at < %(listed_at)s AND {origin} "
            "AND NOT EXISTS (SELECT 1 FROM {listing} a WHERE a.doc_id = d.doc_id)"
        ).format(documents=self._tables.documents, origin=self._origin, listing=LISTING)

    def listed(self, gap: Gap, limit: int | None = None) -> Iterator[list[tuple[str, str]]]:
        if gap == "orphans":
            source = self._orphans()
        else:
            source = sql.SQL("SELECT doc_id, key FROM ({}) AS joined WHERE " + _GAP_CONDITIONS[gap]).format(
                self._joined()
            )
        after, left = "", limit
        while left is None or left > 0:
            size = PAGE if left is None else min(PAGE, left)
            rows = self._conn.execute(
                sql.SQL(
                    "SELECT doc_id, key FROM ({}) AS gap WHERE doc_id > %(after)s ORDER BY doc_id LIMIT {}"
                ).format(source, sql.Literal(size)),
                {**self._params, "after": after},
            ).fetchall()
            if not rows:
                return
            yield [(doc_id, key) for doc_id, key in rows]
            after = rows[-1][0]
            left = None if left is None else left - len(rows)

    def record_requeued(self, doc_ids: Sequence[str]) -> None:
        self._conn.execute(
            sql.SQL(
                """
                INSERT INTO {requeued} (doc_id, etag, requeued_at)
                SELECT doc_id, etag, now() FROM {listing} WHERE doc_id = ANY(%s)
                ON CONFLICT (doc_id) DO UPDATE SET etag = EXCLUDED.etag, requeued_at = EXCLUDED.requeued_at
                """
            ).format(requeued=self._tables.requeued, listing=LISTING),
            (list(doc_ids),),
        )


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class PostgresCensus:
    """Opens census sessions over one collection's tables."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    @contextmanager
    def census(
        self,
        listing: Iterable[list[ListedObject]],
        scope: CensusScope,
        listed_at: datetime,
        grace_seconds: float,
        requeue_timeout_seconds: float,
    ) -> Iterator[PostgresCensusSession]:
        """A session over ``listing`` (streamed into a temp table, dropped when the session ends)."""
        with self._pool.connection("census") as conn:
            create_requeued_table(conn, self._tables)
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE requeued_at < now() - %s").format(self._tables.requeued),
                (REQUEUED_RETENTION,),
            )
            columns = (
                "(doc_id text NOT NULL, key text NOT NULL, etag text NOT NULL, modified timestamptz NOT NULL)"
            )
            for table in (STAGING, LISTING):
                conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} " + columns).format(table))
            try:
                conn.execute(sql.SQL("TRUNCATE {}, {}").format(STAGING, LISTING))
                with conn.cursor().copy(
                    sql.SQL("COPY {} (doc_id, key, etag, modified) FROM STDIN").format(STAGING)
                ) as copy:
                    for page in listing:
                        for listed in page:
                            copy.write_row((listed.doc_id, listed.key, listed.etag, listed.modified))
                self._one_per_document(conn)
                yield PostgresCensusSession(
                    conn, self._tables, scope, listed_at, grace_seconds, requeue_timeout_seconds
                )
            finally:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(STAGING, LISTING))

    @staticmethod
    def _one_per_document(conn: psycopg.Connection) -> None:
        """Move the staged listing into the listing table, one row per document: two keys of a bucket source
        can make the same id (``a b.md`` and ``a-b.md``); the latest object stands for it, as the event of the
        last upload would, and the collision is logged."""
        moved = conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT DISTINCT ON (doc_id) doc_id, key, etag, modified FROM {} "
                "ORDER BY doc_id, modified DESC, key DESC"
            ).format(LISTING, STAGING)
        ).rowcount
        staged = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(STAGING)).fetchone()
        if staged is not None and staged[0] > moved:
            log.warning("census: %d listed keys share a document id with another key", staged[0] - moved)
        conn.execute(sql.SQL("CREATE UNIQUE INDEX ON {} (doc_id)").format(LISTING))
        conn.execute(sql.SQL("ANALYZE {}").format(LISTING))

    def documents_of_points(self, point_ids: Sequence[uuid.UUID]) -> dict[str, str]:
        """The documents whose chunks (of this generation) include ``point_ids``, with their ``source``."""
        with self._pool.transaction("documents_of_points") as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT DISTINCT c.doc_id, coalesce(d.source, '') FROM {} c "
                    "LEFT JOIN {} d ON d.doc_id = c.doc_id WHERE c.id = ANY(%s)"
                ).format(self._tables.chunks, self._tables.documents),
                (list(point_ids),),
            ).fetchall()
        return {doc_id: source for doc_id, source in rows}
