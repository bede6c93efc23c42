"""Retrieval quality on golden queries: recall@k, MRR and nDCG of a document search.

:func:`load_golden_queries` reads a golden-queries file (:mod:`faro_workloads.contract.golden_queries`:
YAML, JSON or JSON Lines); :func:`score_retrieval` runs every question through a search that ranks documents
and scores the answers, over the first ``depth`` documents (``k`` unless said):

- recall@k: the share of a question's expected documents among the first ``k`` documents found, averaged
  over the questions;
- MRR@depth: the mean of 1/rank of the first expected document found (0 when none is in the first ``depth``);
- nDCG@depth: the discounted gain of the expected documents found (1/log2(rank + 1) each) over the best
  possible (every expected document first), averaged.

:func:`vector_document_search` is the search over one generation's stores: questions embedded with the
generation's model, nearest chunks from its store, ranked by their best chunk.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import ValidationError

from faro_workloads.contract.bounded_files import UnreadableFile, read_bounded
from faro_workloads.contract.golden_queries import MAX_FILE_BYTES, GoldenQueries
from faro_workloads.errors import ConfigurationError, check_message

if TYPE_CHECKING:  # annotations only: `faro eval` and every other command start without the stores' clients
    from faro_workloads.core.embedding import Embedder
    from faro_workloads.core.stores.ports import VectorSearch

DocumentSearch = Callable[[Sequence[str], int], list[list[str]]]
"""Questions and k -> for each question, the ids of the first (at most) k documents found, best first."""

CHUNKS_PER_DOCUMENT = 4
"""Chunks asked of the store per document wanted: a document's several chunks near a question would
otherwise push the next documents out of the first k."""


@dataclass(frozen=True, slots=True)
class RetrievalScore:
    """How well a search answered ``queries`` golden questions: recall at ``k``, MRR and nDCG at
    ``depth``."""

    queries: int
    k: int
    recall: float
    mrr: float
    ndcg: float = 0.0
    depth: int = 0

    def describe(self) -> str:
        return f"recall@{self.k} {self.recall:.3f}, MRR {self.mrr:.3f} over {self.queries} golden queries"


def load_golden_queries(path: Path) -> GoldenQueries:
    """The golden queries in ``path`` (YAML or JSON). Raises :class:`ConfigurationError` with one line
    naming the file and its first problem when it is missing, too large or not a golden-queries file."""
    try:
        raw = read_bounded(path, MAX_FILE_BYTES, "golden queries")
    except UnreadableFile as exc:
        raise ConfigurationError(str(exc)) from None
    lines = path.suffix == ".jsonl"
    try:
        text = raw.decode("utf-8")
        data, numbers = _json_lines(text) if lines else (yaml.safe_load(text), [])
    except (UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "JSON Lines" if lines else "YAML or JSON"
        raise ConfigurationError(f"golden queries {path}: not {kind}: {problem}") from None
    try:
        return GoldenQueries.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = list(first["loc"])
        place = ".".join(map(str, loc)) or "the file"
        if lines and len(loc) >= 2 and loc[0] == "queries" and isinstance(loc[1], int):  # as it was written
            field = ".".join("doc_ids" if part == "docIds" else str(part) for part in loc[2:])
            place = f"line {numbers[loc[1]]}" + (f": {field}" if field else "")
        raise ConfigurationError(f"golden queries {path}: {place}: {check_message(first)}") from None


def _json_lines(text: str) -> tuple[dict[str, list[object]], list[int]]:
    """A JSON Lines file of questions as the golden-queries document (blank lines skipped), and the line
    number of each question (for the errors)."""
    queries, numbers = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                queries.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None
            numbers.append(number)
    return {"queries": queries}, numbers


def score_retrieval(
    golden: GoldenQueries, search: DocumentSearch, k: int, depth: int | None = None
) -> RetrievalScore:
    """recall@k, MRR@depth and nDCG@depth of ``search`` over ``golden`` (see the module docstring)."""
    depth = depth or k
    answers = search([q.query for q in golden.queries], max(k, depth))
    recall = reciprocal = gain = 0.0
    for question, found in zip(golden.queries, answers, strict=True):
        expected = set(question.doc_ids)
        recall += len(expected.intersection(found[:k])) / len(expected)
        ranks = [i for i, doc_id in enumerate(found[:depth], start=1) if doc_id in expected]
        reciprocal += 1.0 / ranks[0] if ranks else 0.0
        ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(expected), depth) + 1))
        gain += sum(1.0 / math.log2(rank + 1) for rank in ranks) / ideal
    n = len(golden.queries)
    return RetrievalScore(queries=n, k=k, recall=recall / n, mrr=reciprocal / n, ndcg=gain / n, depth=depth)


def first_documents(doc_ids: Iterable[str], k: int) -> list[str]:
    """The first ``k`` distinct documents of hits' ``doc_ids`` in rank order (each at its best chunk)."""
    return list(dict.fromkeys(doc_ids))[:k]


def vector_document_search(embedder: Embedder, store: VectorSearch) -> DocumentSearch:
    """Documents ranked by their nearest chunk to each question, in ``store`` with ``embedder``."""

    def search(questions: Sequence[str], k: int) -> list[list[str]]:
        vectors = embedder.embed(list(questions))
        ranked: list[list[str]] = []
        for vector in vectors:
            hits = store.search(vector, min(k * CHUNKS_PER_DOCUMENT, 1000))
            ranked.append(first_documents((hit.doc_id for hit in hits), k))
        return ranked

    return search
