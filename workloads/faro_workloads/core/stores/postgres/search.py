"""Nearest-chunk search in pgvector, scored as Qdrant scores, with the HNSW settings a query needs; and the
lexical (BM25) search of hybrid mode, scored as Qdrant's sparse vectors with the IDF modifier score."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from faro_workloads.contract.settings import Distance, PostgresConfig
from faro_workloads.core.documents import SearchHit
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables

# pgvector's upper bound for hnsw.ef_search.
EF_SEARCH_MAX = 1000


class PostgresSearch:
    """k-nearest-neighbour queries over one collection's chunks table."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables, config: PostgresConfig) -> None:
        self._pool = pool
        self._tables = tables
        self._ef_search = config.ef_search

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` nearest chunks, scored like Qdrant scores them (see :class:`SearchHit`).

        Unfiltered searches use the HNSW index (``hnsw.ef_search`` = max(config.ef_search, k)). Filtered
        searches scan exactly (btree on doc_id where it helps): pgvector 0.6 filters HNSW candidates after the
        scan, which can return fewer than ``k`` hits, whereas Qdrant filters inside the graph.
        """
        query = np.asarray(vector, dtype=np.float32)
        params: dict[str, Any] = {"q": query, "k": k}
        conditions = _filter_conditions(flt, params)
        where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        distance = sql.SQL("embedding {} %(q)s").format(sql.SQL(self._tables.operator))
        statement = sql.SQL(
            "SELECT id, doc_id, seq, text, metadata, {distance} AS distance, model FROM {chunks} {where} "
            "ORDER BY {distance} LIMIT %(k)s"
        ).format(distance=distance, chunks=self._tables.chunks, where=where)
        # The session's ef_search is config.ef_search (set per connection); only a larger k or a filter needs
        # transaction-local settings, sent with the query in one pipelined round trip.
        settings: list[sql.Composable] = []
        ef_search = min(max(self._ef_search, k), EF_SEARCH_MAX)
        if ef_search != self._ef_search:
            settings.append(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
        if conditions:
            settings.append(sql.SQL("SET LOCAL enable_indexscan = off"))

        def read(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
            if not settings:
                return conn.execute(statement, params).fetchall()
            with conn.pipeline(), conn.transaction():
                for setting in settings:
                    conn.execute(setting)
                cursor = conn.execute(statement, params)
            return cursor.fetchall()

        return [_hit(row, self._score(row[5])) for row in self._pool.read("search", read)]

    def search_lexical(self, query: SparseVector, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` chunks with the highest BM25 score for ``query``'s terms (none without terms).

        A term's IDF is ``ln(1 + (N - df + 0.5) / (df + 0.5))`` over the chunks that have terms (N) and
        those holding it (df, counted through the GIN index), as Qdrant computes it; a chunk's score is the
        sum over the query's terms it holds of IDF times its stored weight. Candidates are the chunks
        holding any query term (GIN), filtered like :meth:`search`.
        """
        if not query:
            return []
        params: dict[str, Any] = {"terms": query.indices, "k": k}
        conditions = [
            sql.SQL("c.lexical_terms && %(terms)s::integer[]"),
            *_filter_conditions(flt, params, "c."),
        ]
        statement = sql.SQL(
            """
            WITH total AS (
                SELECT count(*)::float8 AS n FROM {chunks} WHERE lexical_terms <> '{{}}'
            ), idf AS (
                SELECT q.term, ln(1 + (total.n - d.df + 0.5) / (d.df + 0.5)) AS idf
                FROM unnest(%(terms)s::integer[]) AS q(term)
                CROSS JOIN total
                CROSS JOIN LATERAL (
                    SELECT count(*)::float8 AS df FROM {chunks} WHERE lexical_terms @> ARRAY[q.term]
                ) AS d
                WHERE d.df > 0
            ), scored AS (
                SELECT c.id, sum(idf.idf * w.weight) AS score
                FROM {chunks} AS c
                CROSS JOIN LATERAL unnest(c.lexical_terms, c.lexical_weights) AS w(term, weight)
                JOIN idf ON idf.term = w.term
                WHERE {where}
                GROUP BY c.id
                ORDER BY score DESC, c.id
                LIMIT %(k)s
            )
            SELECT c.id, c.doc_id, c.seq, c.text, c.metadata, s.score, c.model
            FROM scored AS s JOIN {chunks} AS c ON c.id = s.id
            ORDER BY s.score DESC, c.id
            """
        ).format(chunks=self._tables.chunks, where=sql.SQL(" AND ").join(conditions))
        rows = self._pool.read("search_lexical", lambda conn: conn.execute(statement, params).fetchall())
        return [_hit(row, float(row[5])) for row in rows]

    def _score(self, distance: float) -> float:
        """pgvector's distance in Qdrant's terms: cosine similarity, dot product, or euclidean distance."""
        if self._tables.collection.distance is Distance.COSINE:
            return 1.0 - float(distance)
        if self._tables.collection.distance is Distance.DOT:
            return -float(distance)
        return float(distance)


def _hit(row: tuple[Any, ...], score: float) -> SearchHit:
    """A search row (id, doc_id, seq, text, metadata, score or distance, model) as a hit scored ``score``."""
    return SearchHit(
        id=row[0], score=score, doc_id=row[1], seq=row[2], text=row[3], metadata=row[4], model=row[6]
    )


def _filter_conditions(
    flt: SearchFilter | None, params: dict[str, Any], prefix: str = ""
) -> list[sql.Composable]:
    """``flt`` as SQL conditions on the chunks table (aliased ``prefix``), its values added to ``params``."""
    conditions: list[sql.Composable] = []
    if flt is not None and flt.doc_ids:
        conditions.append(sql.SQL(prefix + "doc_id = ANY(%(doc_ids)s)"))
        params["doc_ids"] = list(flt.doc_ids)
    if flt is not None and flt.metadata:
        conditions.append(sql.SQL(prefix + "metadata @> %(metadata)s"))
        params["metadata"] = Jsonb(flt.metadata)
    return conditions
