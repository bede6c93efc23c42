"""PostgreSQL's lexical search skips the chunks whose terms cannot reach the k-th score (MaxScore) and still
answers exactly what scoring every chunk answers: checked against BM25 computed here over every chunk, on a
corpus where a few words are in nearly every chunk (as "file" or "commit" are in a manual's pages), with
and without filters; and the plan shows the chunks holding only common words were not scored."""

from __future__ import annotations

import math
import random
import uuid
from typing import Any

import numpy as np
import pytest
from psycopg import sql

from faro_workloads.core.documents import Chunk
from faro_workloads.core.lexical import chunk_vector, query_vector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres import PgVectorStore

pytestmark = pytest.mark.integration

COMMON = ["file", "commit", "branch", "change"]  # in most chunks
MIDDLE = [f"option{i}" for i in range(12)]  # in some
RARE = [f"rare{i}" for i in range(40)]  # in a few
CHUNKS = 240


def _text(rng: random.Random) -> str:
    words = [w for w in COMMON if rng.random() < 0.85]
    words += rng.sample(MIDDLE, rng.randint(0, 3)) + rng.sample(RARE, rng.randint(0, 2))
    words += [rng.choice(COMMON) for _ in range(rng.randint(0, 6))]  # term frequencies vary
    rng.shuffle(words)
    return " ".join(words) or "file"


@pytest.fixture
def corpus(pg_store: PgVectorStore, make_chunks, make_record) -> list[Chunk]:
    rng = random.Random(7)
    written: list[Chunk] = []
    for d in range(CHUNKS // 4):
        chunks = make_chunks(f"doc{d:03}", 4, metadata={"team": "a" if d % 3 else "b"})
        for chunk in chunks:
            chunk.text = _text(rng)
        pg_store.write_document(make_record(chunks), chunks)
        written += chunks
    with pg_store._pool.connection(
        "test"
    ) as conn:  # as autovacuum leaves a table: statistics, visibility map
        conn.autocommit = True
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(pg_store._tables.chunks))
    return written


def _reference(chunks: list[Chunk], question: str, k: int, team: str | None) -> list[tuple[uuid.UUID, float]]:
    """BM25 over every chunk as the stores define it: (id, score) of the best k, ties by id."""
    query = query_vector(question)
    vectors = {chunk.id: chunk_vector(chunk) for chunk in chunks}
    weights = {  # as PostgreSQL stores them: real
        id_: dict(zip(v.indices, np.float32(v.values).tolist(), strict=True)) for id_, v in vectors.items()
    }
    n = sum(1 for w in weights.values() if w)
    scores: list[tuple[uuid.UUID, float]] = []
    for chunk in chunks:
        if team is not None and chunk.metadata["team"] != team:
            continue
        score, held = 0.0, False
        for term, q in zip(query.indices, query.values, strict=True):
            if term in weights[chunk.id]:
                df = sum(1 for w in weights.values() if term in w)
                score += q * math.log(1 + (n - df + 0.5) / (df + 0.5)) * weights[chunk.id][term]
                held = True
        if held:
            scores.append((chunk.id, score))
    return sorted(scores, key=lambda item: (-item[1], item[0]))[:k]


def _same_ranking(got: list[tuple[uuid.UUID, float]], expected: list[tuple[uuid.UUID, float]]) -> None:
    """Equal scores in order; ids equal, except among scores tied (within rounding) at the last place."""
    assert len(got) == len(expected)
    for (_, a), (_, b) in zip(got, expected, strict=True):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    last = expected[-1][1] if expected else 0.0
    untied = lambda ranking: [i for i, s in ranking if not math.isclose(s, last, rel_tol=1e-9)]  # noqa: E731
    assert untied(got) == untied(expected)


QUESTIONS = [
    "file commit rare3",
    "file commit branch rare5 option3",
    "change the branch option2",
    "commit branch",
    "file commit branch change option7 rare11",
    "rare0 rare1 rare2",
    "option1 option2 file",
    "nothingatall file",
]


@pytest.mark.parametrize("team", [None, "b"])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_the_pruned_search_answers_what_scoring_every_chunk_answers(
    pg_store: PgVectorStore, corpus: list[Chunk], k: int, team: str | None
) -> None:
    flt = SearchFilter(metadata={"team": team}) if team else None
    for question in QUESTIONS:
        hits = pg_store.search_lexical(query_vector(question), k, flt)
        _same_ranking([(hit.id, hit.score) for hit in hits], _reference(corpus, question, k, team))


def _scored_rows(plan: dict[str, Any]) -> list[int]:
    """Rows read by the plan's scans whose condition is the candidates' overlap (``&&``) test (not the
    first look's, which is limited: the ``seed`` CTE)."""
    if plan.get("Subplan Name") == "CTE seed":
        return []
    found = []
    for key in ("Recheck Cond", "Index Cond", "Filter"):
        if "&&" in str(plan.get(key, "")) and plan.get("Node Type", "").endswith("Scan"):
            found.append(plan["Actual Rows"])
            break
    for child in plan.get("Plans", []):
        found += _scored_rows(child)
    return found


def _scored(pg_store: PgVectorStore, question: str, k: int) -> list[int]:
    """The rows scored by the lexical search for ``question`` (the scans of :func:`_scored_rows`)."""
    statement = pg_store._search.statements.lexical(query_vector(question), k, None)
    with pg_store._pool.connection("test") as conn, conn.transaction():
        for setting in statement.settings:
            conn.execute(setting)
        explain = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statement.statement
        ((plan,),) = conn.execute(explain, statement.params).fetchall()
    return _scored_rows(plan[0]["Plan"])  # the bitmap heap scan and the index scan under it


def _holding(corpus: list[Chunk], *words: str) -> int:
    return sum(1 for c in corpus if set(words) & set(c.text.split()))


def test_chunks_holding_only_common_words_are_not_scored(
    pg_store: PgVectorStore, corpus: list[Chunk]
) -> None:
    holding_any, holding_rare = _holding(corpus, *COMMON[:3], "rare5"), _holding(corpus, "rare5")
    assert holding_any > 150 and 0 < holding_rare < 20
    scans = _scored(pg_store, "file commit branch rare5", 3)
    assert scans and max(scans) <= holding_rare < holding_any / 10, (scans, holding_any, holding_rare)


def test_common_words_are_skipped_when_the_most_telling_word_is_in_fewer_than_k_chunks(
    pg_store: PgVectorStore, corpus: list[Chunk]
) -> None:
    """The first look takes the chunks of the most telling words until it has enough for a k-th score (with
    the most telling word's chunks alone, fewer than k, nothing could be skipped)."""
    k = 20
    holding_any = _holding(corpus, *COMMON[:3], "rare5", "option3")
    holding_telling = _holding(corpus, "rare5", "option3")
    assert holding_any > 150 and _holding(corpus, "rare5") < k < holding_telling < holding_any / 3
    scans = _scored(pg_store, "file commit branch rare5 option3", k)
    assert scans and max(scans) <= holding_telling, (scans, holding_any, holding_telling)
