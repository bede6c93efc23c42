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
from faro_workloads.core.documents import RankedChunk, SearchHit
from faro_workloads.core.fusion import ties_in_id_order
from faro_workloads.core.lexical import MAX_WEIGHT, SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres.tables import CollectionTables

# pgvector's upper bound for hnsw.ef_search.
EF_SEARCH_MAX = 1000

Row = tuple[Any, ...]

_NO_INDEX_SCAN = sql.SQL("SET LOCAL enable_indexscan = off")
# The lexical search reads through its indexes only: counting a common term's chunks through the GIN index
# visits their rows without reading their arrays, where a sequential scan (the planner's choice for a term
# in most chunks) reads and decompresses every row's terms (4 ms against 0.6 at 4,360 chunks).
_NO_SEQUENTIAL_SCAN = sql.SQL("SET LOCAL enable_seqscan = off")
SEED_FACTOR = 4
"""How many times k chunks the lexical search scores first (see :meth:`SearchStatements.lexical`)."""


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
        self._dense_sql: dict[tuple[bool | str, ...], sql.SQL] = {}  # by the filter's shape, rows or ranking
        self._lexical_sql: dict[tuple[bool | int | str, ...], sql.SQL] = {}  # by query terms too
        texts = sql.SQL("SELECT id, text FROM {} WHERE id = ANY(%s)").format(tables.chunks)
        self._texts_sql = sql.SQL(texts.as_string())
        rows = sql.SQL(  # a search row's columns; its score is the ranking's (the NULL's place)
            "SELECT id, doc_id, seq, text, metadata, NULL, model FROM {} WHERE id = ANY(%s)"
        ).format(tables.chunks)
        self._rows_sql = sql.SQL(rows.as_string())

    def dense(self, vector: np.ndarray, k: int, flt: SearchFilter | None, ranked: bool = False) -> Statement:
        """The ``k`` nearest chunks (rows for :meth:`dense_hits`; with ``ranked``, their ids and distances
        only, rows for :meth:`dense_ranking`).

        Unfiltered searches use the HNSW index (``hnsw.ef_search`` = max(config.ef_search, k)). Filtered
        searches scan exactly (btree on doc_id where it helps): pgvector 0.6 filters HNSW candidates after the
        scan, which can return fewer than ``k`` hits, whereas Qdrant filters inside the graph.
        """
        return self._nearest(vector, k, flt, None, k, ranked)

    def grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None
    ) -> Statement:
        """The ``k`` nearest chunks with at most ``per_document`` of one document, chosen among the
        ``candidates`` nearest (rows for :meth:`dense_hits`): the grouping is done in PostgreSQL, so only the
        chosen rows travel, with their text and metadata."""
        return self._nearest(vector, k, flt, per_document, candidates)

    def _nearest(
        self,
        vector: np.ndarray,
        k: int,
        flt: SearchFilter | None,
        per_document: int | None,
        candidates: int,
        ranked: bool = False,
    ) -> Statement:
        params: dict[str, Any] = {"q": np.asarray(vector, dtype=np.float32), "k": k}
        if per_document is not None:
            params |= {"per_document": per_document, "candidates": candidates}
        conditions = _filter_conditions(flt, params)
        shape = (ranked, *(name for name in (*FILTER_PARAMS, "per_document") if name in params))
        statement = self._dense_sql.get(shape)
        if statement is None:
            statement = self._dense_sql[shape] = self._dense_statement(
                conditions, per_document is not None, ranked
            )
        # The session's ef_search is config.ef_search (set per connection); only a larger k or a filter needs
        # transaction-local settings, sent with the query in one pipelined round trip.
        settings: list[sql.Composable] = []
        ef_search = min(max(self._ef_search, candidates), EF_SEARCH_MAX)
        if ef_search != self._ef_search:
            settings.append(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
        if conditions:
            settings.append(_NO_INDEX_SCAN)
        return Statement(statement, params, settings)

    def _dense_statement(self, conditions: list[sql.Composable], grouped: bool, ranked: bool) -> sql.SQL:
        """The dense search under ``conditions``, grouped by document or not, whole rows or a ranking,
        rendered once (a search sends the text, not a tree)."""
        where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        distance = sql.SQL("embedding {} %(q)s").format(sql.SQL(self._tables.operator))
        if not grouped:
            columns = sql.SQL(
                "id, {distance}" if ranked else "id, doc_id, seq, text, metadata, {distance}, model"
            )
            composed = sql.SQL(
                "SELECT {columns} FROM {chunks} {where} ORDER BY {distance} LIMIT %(k)s"
            ).format(
                columns=columns.format(distance=distance),
                distance=distance,
                chunks=self._tables.chunks,
                where=where,
            )
            return sql.SQL(composed.as_string())
        # The candidates are found by the index as an ungrouped search finds them (narrow rows), numbered
        # within their document in order of distance; the first per_document of each, the k nearest of
        # those, are the answer, and only their k rows are read again for their text and metadata (joined
        # before the limit, every candidate's row was: 4x the look-ups).
        composed = sql.SQL(
            """
            WITH cand AS MATERIALIZED (
                SELECT id, doc_id, {distance} AS distance FROM {chunks} {where}
                ORDER BY {distance} LIMIT %(candidates)s
            ), chosen AS (
                SELECT id, distance FROM (
                    SELECT id, distance,
                        row_number() OVER (PARTITION BY doc_id ORDER BY distance, id) AS nth
                    FROM cand
                ) AS ranked
                WHERE nth <= %(per_document)s ORDER BY distance, id LIMIT %(k)s
            )
            SELECT c.id, c.doc_id, c.seq, c.text, c.metadata, r.distance, c.model
            FROM chosen AS r JOIN {chunks} AS c ON c.id = r.id ORDER BY r.distance, r.id
            """
        ).format(distance=distance, chunks=self._tables.chunks, where=where)
        return sql.SQL(composed.as_string())

    def lexical(
        self, query: SparseVector, k: int, flt: SearchFilter | None, ranked: bool = False
    ) -> Statement:
        """The ``k`` chunks with the highest BM25 score for ``query``'s terms (rows for
        :meth:`lexical_hits`; with ``ranked``, their ids and scores only, rows for :meth:`lexical_ranking`).

        A term's IDF is ``ln(1 + (N - df + 0.5) / (df + 0.5))`` over the chunks that have terms (N) and
        those holding it (df), as Qdrant computes it, counted over the whole table (filters do not change
        it, as they do not for Qdrant's IDF); a chunk's score is the sum over the query's terms it holds of
        the query's weight times IDF times the chunk's stored weight.

        The chunks holding only terms too common to matter are not scored (MaxScore): no stored weight
        reaches :data:`MAX_WEIGHT`, so a term adds at most its IDF-weight times that to a score. A first
        look at the chunks holding the query's most telling terms (the rarest, then the next rarest as long
        as their chunks together stay within ``SEED_FACTOR * k``, so that a rare term found in fewer than k
        chunks does not leave the look short of a k-th score; at most that many chunks, admitted by the
        filter, fully scored) gives a score the k-th hit reaches at least; the terms whose bounds,
        added up from the least telling, stay below it cannot bring a chunk there on their own, so only
        the chunks holding one of the others are scored. The answer is the one scoring every candidate
        gives; a question's common words ("file", "commit") no longer make most chunks candidates.
        """
        params: dict[str, Any] = {"k": k, "seed": SEED_FACTOR * k}
        conditions = _filter_conditions(flt, params, "c.")
        for i, (term, weight) in enumerate(zip(query.indices, query.values, strict=True)):
            params[f"t{i}"], params[f"w{i}"] = term, weight
        shape = (ranked, len(query.indices), *(name for name in FILTER_PARAMS if name in params))
        statement = self._lexical_sql.get(shape)
        if statement is None:
            statement = self._lexical_sql[shape] = self._lexical_statement(
                len(query.indices), conditions, ranked
            )
        return Statement(statement, params, [_NO_SEQUENTIAL_SCAN])

    def _lexical_statement(self, terms: int, conditions: list[sql.Composable], ranked: bool) -> sql.SQL:
        """The lexical search for ``terms`` query terms under ``conditions``, whole rows or a ranking,
        rendered once.

        Each term's df is counted once (``d``: a CTE, or the planner copies a count into each place that
        reads it) through the GIN index, N through the partial index of the chunks with terms; ``bounds``
        lists the terms found, each with its IDF-weight, the sum of the bounds up to it (least telling
        first) and how many chunks hold the terms rarer than it; ``seed`` and ``theta`` give the score to
        reach; ``scored`` scores the chunks holding a term whose running bound reaches it (and answers, or
        is joined back to the chunks for their text). A chunk's weights are copied once before
        its look-ups (the ``OFFSET 0`` keeps the planner from folding the copy back into each one):
        PostgreSQL stores them compressed, and every subscript of a compressed array decompresses it again.
        A query term's place among a chunk's terms is found by binary search (``width_bucket``: the place of
        the last term not above it; a chunk's terms are stored in ascending order, as
        :func:`~faro_workloads.core.lexical.chunk_vector` gives them), not by ``array_position``'s scan of
        every term: on git-doc's 45 questions, 8.3 -> 5.1 ms a lexical search.
        """
        chunks = self._tables.chunks
        admitted = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")
        counts, weights, rows, parts, places = [], [], [], [], []
        for i in range(terms):
            t, w = sql.Placeholder(f"t{i}"), sql.Placeholder(f"w{i}")
            df, iw = sql.Identifier(f"df{i}"), sql.Identifier(f"iw{i}")
            counts.append(
                sql.SQL(
                    "(SELECT count(*) FROM {} WHERE lexical_terms @> ARRAY[{}::integer])::float8 AS {}"
                ).format(chunks, t, df)
            )
            weights.append(
                sql.SQL("{w}::float8 * ln(1 + (n.n - d.{df} + 0.5) / (d.{df} + 0.5)) AS {iw}, d.{df}").format(
                    w=w, df=df, iw=iw
                )
            )
            rows.append(sql.SQL("({}::integer, idf.{}, idf.{})").format(t, iw, df))
            place = sql.Identifier(f"p{i}")
            places.append(sql.SQL("width_bucket({}::integer, c.lexical_terms) AS {}").format(t, place))
            parts.append(
                sql.SQL(
                    "(CASE WHEN c.lexical_terms[d.{p}] = {t}::integer"
                    " THEN d.weights[d.{p}]::float8 ELSE 0 END) * (SELECT {iw} FROM idf)"
                ).format(t=t, iw=iw, p=place)
            )
        score = sql.SQL(" + ").join(parts)
        copied = sql.SQL(
            "LATERAL (SELECT c.lexical_weights || '{{}}'::real[] AS weights, {} OFFSET 0) AS d"
        ).format(sql.SQL(", ").join(places))
        composed = sql.SQL(
            """
            WITH n AS MATERIALIZED (
                SELECT count(*)::float8 AS n FROM {chunks} WHERE lexical_terms <> '{{}}'
            ), d AS MATERIALIZED (
                SELECT {counts}
            ), idf AS MATERIALIZED (
                SELECT {weights} FROM n, d
            ), bounds AS MATERIALIZED (
                SELECT b.t, b.iw, b.df, {bound} * sum(greatest(b.iw, 0))
                    OVER (ORDER BY b.iw, b.t ROWS UNBOUNDED PRECEDING) AS below,
                    sum(b.df) OVER (ORDER BY b.iw DESC, b.t ROWS UNBOUNDED PRECEDING) - b.df AS rarer
                FROM idf, LATERAL (VALUES {rows}) AS b(t, iw, df) WHERE b.df > 0
            ), seed AS MATERIALIZED (
                SELECT {score} AS score
                FROM (
                    SELECT c.lexical_terms, c.lexical_weights FROM {chunks} AS c
                    WHERE c.lexical_terms && (
                            SELECT array_agg(t) FROM bounds WHERE rarer = 0 OR rarer + df <= %(seed)s
                        )
                        AND {admitted}
                    LIMIT %(seed)s
                ) AS c, {copied}
                ORDER BY score DESC LIMIT %(k)s
            ), theta AS MATERIALIZED (
                SELECT CASE WHEN count(*) = %(k)s THEN min(score) ELSE 0 END AS theta FROM seed
            ), scored AS (
                SELECT c.id, {score} AS score
                FROM {chunks} AS c, {copied}
                WHERE c.lexical_terms && (
                        SELECT array_agg(t) FROM bounds WHERE below >= (SELECT theta FROM theta)
                    ) AND {admitted}
                ORDER BY score DESC, c.id LIMIT %(k)s
            )
            {answer}
            """
        ).format(
            answer=sql.SQL(
                "SELECT id, score FROM scored ORDER BY score DESC, id"
                if ranked
                else "SELECT c.id, c.doc_id, c.seq, c.text, c.metadata, scored.score, c.model"
                " FROM scored JOIN {chunks} AS c ON c.id = scored.id ORDER BY scored.score DESC, c.id"
            ).format(chunks=chunks),
            chunks=chunks,
            admitted=admitted,
            weights=sql.SQL(", ").join(weights),
            counts=sql.SQL(", ").join(counts),
            rows=sql.SQL(", ").join(rows),
            bound=sql.Literal(MAX_WEIGHT),
            score=score,
            copied=copied,
        )
        return sql.SQL(composed.as_string())

    def chunk_texts(self, ids: Sequence[uuid.UUID]) -> Statement:
        """The id and text of the chunks with these ids that exist."""
        return Statement(self._texts_sql, (list(ids),))

    def chunk_rows(self, ids: Sequence[uuid.UUID]) -> Statement:
        """The rows of the chunks with these ids that exist (rows for :func:`ranked_hits`)."""
        return Statement(self._rows_sql, (list(ids),))

    def dense_ranking(self, rows: list[Row]) -> list[RankedChunk]:
        """Rows of :meth:`dense` with ``ranked``, their distance scored as Qdrant scores."""
        return ties_in_id_order([RankedChunk(row[0], self._score(row[1])) for row in rows])

    @staticmethod
    def lexical_ranking(rows: list[Row]) -> list[RankedChunk]:
        """Rows of :meth:`lexical` with ``ranked``, scored by BM25."""
        return ties_in_id_order([RankedChunk(row[0], float(row[1])) for row in rows])

    def dense_hits(self, rows: list[Row]) -> list[SearchHit]:
        """Rows of :meth:`dense`, their distance scored as Qdrant scores (see :class:`SearchHit`)."""
        return ties_in_id_order([_hit(row, self._score(row[5])) for row in rows])

    @staticmethod
    def lexical_hits(rows: list[Row]) -> list[SearchHit]:
        """Rows of :meth:`lexical`, scored by BM25."""
        return ties_in_id_order([_hit(row, float(row[5])) for row in rows])

    def _score(self, distance: float) -> float:
        """pgvector's distance in Qdrant's terms: cosine similarity, dot product, or euclidean distance."""
        if self._tables.collection.distance is Distance.COSINE:
            return 1.0 - float(distance)
        if self._tables.collection.distance is Distance.DOT:
            return -float(distance)
        return float(distance)


def ranked_hits(ranking: Sequence[RankedChunk], rows: list[Row]) -> list[SearchHit]:
    """The chunks of ``ranking`` as hits (their rows, from :meth:`SearchStatements.chunk_rows`), in its order
    and with its scores; a chunk with no row (deleted since it was ranked) is left out."""
    by_id = {row[0]: row for row in rows}
    return [_hit(by_id[chunk.id], chunk.score) for chunk in ranking if chunk.id in by_id]


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
