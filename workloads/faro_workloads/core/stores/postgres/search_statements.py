"""The SQL of the query path's reads, built once for the synchronous store and the asynchronous one alike:
the nearest-chunk search scored as Qdrant scores it, with the HNSW settings a query needs; the lexical
(BM25) search of hybrid mode, scored as Qdrant's sparse vectors with the IDF modifier score; chunk texts by
id; and the rows they return as hits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.contract.settings import Distance
from faro_workloads.core.documents import SearchHit
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres.tables import CollectionTables

# pgvector's upper bound for hnsw.ef_search.
EF_SEARCH_MAX = 1000

Row = tuple[Any, ...]

_NO_INDEX_SCAN = sql.SQL("SET LOCAL enable_indexscan = off")


@dataclass(frozen=True, slots=True)
class Statement:
    """A read statement, its parameters, and the transaction-local settings it needs first (if any)."""

    statement: sql.Composable
    params: dict[str, Any] | tuple[Any, ...]
    settings: list[sql.Composable] = field(default_factory=list)

    def run(self, conn: psycopg.Connection) -> psycopg.Cursor[Any]:
        """Send the settings and the statement (inside the caller's transaction when there are settings)."""
        for setting in self.settings:
            conn.execute(setting)
        return conn.execute(self.statement, self.params)

    async def run_async(self, conn: psycopg.AsyncConnection) -> psycopg.AsyncCursor[Any]:
        """:meth:`run` on an asynchronous connection."""
        for setting in self.settings:
            await conn.execute(setting)
        return await conn.execute(self.statement, self.params)


class SearchStatements:
    """The query path's statements over one generation's chunks table, and its rows as hits."""

    def __init__(self, tables: CollectionTables, ef_search: int) -> None:
        self._tables = tables
        self._ef_search = ef_search
        self._dense_sql: dict[tuple[str, ...], sql.SQL] = {}  # by the filter's shape
        self._lexical_sql: dict[tuple[int | str, ...], sql.SQL] = {}  # by query terms and the filter's shape
        texts = sql.SQL("SELECT id, text FROM {} WHERE id = ANY(%s)").format(tables.chunks)
        self._texts_sql = sql.SQL(texts.as_string())

    def dense(self, vector: np.ndarray, k: int, flt: SearchFilter | None) -> Statement:
        """The ``k`` nearest chunks (rows for :meth:`dense_hits`).

        Unfiltered searches use the HNSW index (``hnsw.ef_search`` = max(config.ef_search, k)). Filtered
        searches scan exactly (btree on doc_id where it helps): pgvector 0.6 filters HNSW candidates after the
        scan, which can return fewer than ``k`` hits, whereas Qdrant filters inside the graph.
        """
        return self._nearest(vector, k, flt, None, k)

    def grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None
    ) -> Statement:
        """The ``k`` nearest chunks with at most ``per_document`` of one document, chosen among the
        ``candidates`` nearest (rows for :meth:`dense_hits`): the grouping is done in PostgreSQL, so only the
        chosen rows travel, with their text and metadata."""
        return self._nearest(vector, k, flt, per_document, candidates)

    def _nearest(
        self, vector: np.ndarray, k: int, flt: SearchFilter | None, per_document: int | None, candidates: int
    ) -> Statement:
        params: dict[str, Any] = {"q": np.asarray(vector, dtype=np.float32), "k": k}
        if per_document is not None:
            params |= {"per_document": per_document, "candidates": candidates}
        conditions = _filter_conditions(flt, params)
        shape = tuple(name for name in (*FILTER_PARAMS, "per_document") if name in params)
        statement = self._dense_sql.get(shape)
        if statement is None:
            statement = self._dense_sql[shape] = self._dense_statement(conditions, per_document is not None)
        # The session's ef_search is config.ef_search (set per connection); only a larger k or a filter needs
        # transaction-local settings, sent with the query in one pipelined round trip.
        settings: list[sql.Composable] = []
        ef_search = min(max(self._ef_search, candidates), EF_SEARCH_MAX)
        if ef_search != self._ef_search:
            settings.append(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
        if conditions:
            settings.append(_NO_INDEX_SCAN)
        return Statement(statement, params, settings)

    def _dense_statement(self, conditions: list[sql.Composable], grouped: bool) -> sql.SQL:
        """The dense search under ``conditions``, grouped by document or not, rendered once (a search sends
        the text, not a tree)."""
        where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        distance = sql.SQL("embedding {} %(q)s").format(sql.SQL(self._tables.operator))
        if not grouped:
            composed = sql.SQL(
                "SELECT id, doc_id, seq, text, metadata, {distance} AS distance, model FROM {chunks} {where} "
                "ORDER BY {distance} LIMIT %(k)s"
            ).format(distance=distance, chunks=self._tables.chunks, where=where)
            return sql.SQL(composed.as_string())
        # The candidates are found by the index as an ungrouped search finds them (narrow rows), numbered
        # within their document in order of distance; the first per_document of each are the answer.
        composed = sql.SQL(
            """
            WITH cand AS MATERIALIZED (
                SELECT id, doc_id, {distance} AS distance FROM {chunks} {where}
                ORDER BY {distance} LIMIT %(candidates)s
            ), ranked AS (
                SELECT id, distance, row_number() OVER (PARTITION BY doc_id ORDER BY distance) AS nth
                FROM cand
            )
            SELECT c.id, c.doc_id, c.seq, c.text, c.metadata, r.distance, c.model
            FROM ranked AS r JOIN {chunks} AS c ON c.id = r.id
            WHERE r.nth <= %(per_document)s ORDER BY r.distance LIMIT %(k)s
            """
        ).format(distance=distance, chunks=self._tables.chunks, where=where)
        return sql.SQL(composed.as_string())

    def lexical(self, query: SparseVector, k: int, flt: SearchFilter | None) -> Statement:
        """The ``k`` chunks with the highest BM25 score for ``query``'s terms (rows for
        :meth:`lexical_hits`).

        A term's IDF is ``ln(1 + (N - df + 0.5) / (df + 0.5))`` over the chunks that have terms (N) and
        those holding it (df), as Qdrant computes it; a chunk's score is the sum over the query's terms it
        holds of the query's weight times IDF times the chunk's stored weight.

        One statement, one pass over the candidates (the chunks holding any query term, through the GIN
        index when the terms are rare enough): per query term, each candidate's weight looked up in its own
        arrays (``array_position``), once — no row per (chunk, term) pair. Unfiltered candidates count for
        df, as they do for Qdrant's IDF; only filtered ones are scored.
        """
        params: dict[str, Any] = {"terms": query.indices, "k": k}
        conditions = _filter_conditions(flt, params, "c.")
        for i, (term, weight) in enumerate(zip(query.indices, query.values, strict=True)):
            params[f"t{i}"], params[f"w{i}"] = term, weight
        shape = (len(query.indices), *(name for name in FILTER_PARAMS if name in params))
        statement = self._lexical_sql.get(shape)
        if statement is None:
            statement = self._lexical_sql[shape] = self._lexical_statement(len(query.indices), conditions)
        return Statement(statement, params)

    def _lexical_statement(self, terms: int, conditions: list[sql.Composable]) -> sql.SQL:
        """The lexical search for ``terms`` query terms under ``conditions``, rendered once.

        Each candidate's weight for each query term (NULL where it lacks the term) is looked up once, when
        the candidates are materialised; the terms' dfs count those that are not NULL, and the scores add
        them up, so the materialised rows hold floats, not arrays. The weights array is copied once per
        candidate first (the ``OFFSET 0`` keeps the planner from folding the copy back into each look-up):
        PostgreSQL stores it compressed (a chunk's weights repeat), and every subscript of a compressed
        array decompresses it again — one query term's look-up cost more than all its ``array_position``.
        """
        admitted = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
        held, dfs, parts = [], [], []
        for i in range(terms):
            t, w = sql.Placeholder(f"t{i}"), sql.Placeholder(f"w{i}")
            x, df = sql.Identifier(f"x{i}"), sql.Identifier(f"df{i}")
            held.append(
                sql.SQL("d.weights[array_position(c.lexical_terms, {}::integer)]::float8 AS {}").format(t, x)
            )
            dfs.append(sql.SQL("count({})::float8 AS {}").format(x, df))
            parts.append(
                sql.SQL(
                    "{w}::float8 * coalesce(cand.{x}, 0) * ln(1 + (s.n - s.{df} + 0.5) / (s.{df} + 0.5))"
                ).format(w=w, x=x, df=df)
            )
        composed = sql.SQL(
            """
            WITH cand AS MATERIALIZED (
                SELECT c.id, {admitted} AS admitted, {held}
                FROM {chunks} AS c,
                    LATERAL (SELECT c.lexical_weights || '{{}}'::real[] AS weights OFFSET 0) AS d
                WHERE c.lexical_terms && %(terms)s::integer[]
            ), s AS (
                SELECT (SELECT count(*) FROM {chunks} WHERE lexical_terms <> '{{}}')::float8 AS n, {dfs}
                FROM cand
            ), scored AS (
                SELECT cand.id, {score} AS score FROM cand CROSS JOIN s WHERE cand.admitted
                ORDER BY score DESC, cand.id LIMIT %(k)s
            )
            SELECT c.id, c.doc_id, c.seq, c.text, c.metadata, scored.score, c.model
            FROM scored JOIN {chunks} AS c ON c.id = scored.id
            ORDER BY scored.score DESC, c.id
            """
        ).format(
            chunks=self._tables.chunks,
            admitted=admitted,
            held=sql.SQL(", ").join(held),
            dfs=sql.SQL(", ").join(dfs),
            score=sql.SQL(" + ").join(parts),
        )
        return sql.SQL(composed.as_string())

    def chunk_texts(self, ids: Sequence[uuid.UUID]) -> Statement:
        """The id and text of the chunks with these ids that exist."""
        return Statement(self._texts_sql, (list(ids),))

    def dense_hits(self, rows: list[Row]) -> list[SearchHit]:
        """Rows of :meth:`dense`, their distance scored as Qdrant scores (see :class:`SearchHit`)."""
        return [_hit(row, self._score(row[5])) for row in rows]

    @staticmethod
    def lexical_hits(rows: list[Row]) -> list[SearchHit]:
        """Rows of :meth:`lexical`, scored by BM25."""
        return [_hit(row, float(row[5])) for row in rows]

    def _score(self, distance: float) -> float:
        """pgvector's distance in Qdrant's terms: cosine similarity, dot product, or euclidean distance."""
        if self._tables.collection.distance is Distance.COSINE:
            return 1.0 - float(distance)
        if self._tables.collection.distance is Distance.DOT:
            return -float(distance)
        return float(distance)


def _hit(row: Row, score: float) -> SearchHit:
    """A search row (id, doc_id, seq, text, metadata, score or distance, model) as a hit scored ``score``."""
    return SearchHit(
        id=row[0], score=score, doc_id=row[1], seq=row[2], text=row[3], metadata=row[4], model=row[6]
    )


FILTER_PARAMS = ("doc_ids", "metadata", "tenant")
"""The parameters :func:`_filter_conditions` may add: a rendered statement is cached by which it has (its
shape), so each must be here, or a statement rendered for one filter would serve another."""


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
    if flt is not None and flt.tenant is not None:  # the expression the tenant index holds
        conditions.append(
            sql.SQL("(" + prefix + "metadata ->> {}) = %(tenant)s").format(sql.Literal(TENANT_KEY))
        )
        params["tenant"] = flt.tenant
    return conditions
