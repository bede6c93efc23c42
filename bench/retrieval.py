"""Benchmark: retrieval quality of Faro's default pipeline against naive pipelines, per evaluation corpus.

Corpora and questions are :mod:`bench.eval_corpora` (Debian's documentation packages; each question names
the pages that answer it). Every contender reads the same pages through Faro's text extraction, embeds with
all-MiniLM-L6-v2 and answers each question with a ranking of pages: its first ``--candidates`` chunks, each
page at its best chunk (what ``faro eval`` does). Scores: recall@5, MRR@10, nDCG@10
(:func:`~faro_workloads.core.evaluation.score_retrieval`).

- **faro**: the default pipeline as a user gets it: ``IngestService`` (default chunking, the embedding
  cache) into PostgreSQL + pgvector and Qdrant (local mode, in memory), asked through the ``Retriever`` on
  each backend;
- **fixed 1000/200**: 1,000-character windows overlapping by 200, exact cosine search;
- **bm25**: BM25 (``bm25s``, English stop words) over the same windows.

Two more rows show what grouping does to what an application sees: the documents of the first 5 hits of
Faro's default mode (recall@5, and MRR over those 5), without a limit per document and with one chunk per
document (``max_per_document: 1``).

The claim is ``ratio`` = Faro's MRR@10 (its weaker backend) minus the best naive MRR@10, the smallest over
the corpora (target >= 0.05); Faro's recall@5 should reach 0.95 on each. Vectors are cached in a file per
corpus (:mod:`bench.vector_file`), so only the first run pays for the embedding.

    python -m bench.retrieval                                   # every corpus of bench.eval_corpora
    python -m bench.retrieval --corpus git-doc                  # one
    python -m bench.retrieval --pages DIR --questions Q.jsonl   # your own documents and questions
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np

from bench.eval_corpora import CORPORA, question_problems
from bench.html_corpus import CorpusError, Page, cache_dir
from bench.report import BenchReport, Row
from bench.stores import BenchStores, bench_stores
from bench.vector_file import FileEmbeddingCache
from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.chunking import DEFAULT_STRATEGY, ChunkingStrategy
from faro_workloads.contract.golden_queries import GoldenQueries
from faro_workloads.contract.settings import ChunkingConfig, QueryConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.embedding.cached import CachedEmbedder
from faro_workloads.core.embedding.minilm import MiniLMEmbedder
from faro_workloads.core.evaluation import (
    DocumentSearch,
    RetrievalScore,
    first_documents,
    load_golden_queries,
    score_retrieval,
)
from faro_workloads.core.ingest import IncomingDocument, IngestService
from faro_workloads.core.metrics import SENTENCE_EMBEDDINGS
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.retrieval import Backend, Retriever
from faro_workloads.core.text_extraction import SourceFormat, detect_format, extract_document
from faro_workloads.document_files import find_document_files
from faro_workloads.errors import ConfigurationError

K = 5
DEPTH = 10
CANDIDATES = 50
TARGET_MRR_GAIN = 0.05
TARGET_RECALL = 0.95
WINDOW_CHARS, WINDOW_OVERLAP = 1000, 200


@dataclass(frozen=True, slots=True)
class EvalSet:
    """Documents (id -> extracted text and the format it came from) and questions about them."""

    name: str
    texts: dict[str, str]
    formats: dict[str, SourceFormat]
    metadata: dict[str, dict[str, object]]
    golden: GoldenQueries
    vector_cache: Path | None

    @classmethod
    def of(
        cls, name: str, pages: Sequence[Page], golden: GoldenQueries, vector_cache: Path | None
    ) -> EvalSet:
        problems = question_problems(golden, [page.name for page in pages], name)
        if problems:
            raise CorpusError(
                f"{problems[0]} (and {len(problems) - 1} more)" if len(problems) > 1 else problems[0]
            )
        formats = {page.name: detect_format(page.name, None) for page in pages}
        extracted = {page.name: extract_document(page.data, formats[page.name]) for page in pages}
        texts = {doc_id: document.text for doc_id, document in extracted.items()}
        metadata = {doc_id: document.metadata_with_title({}) for doc_id, document in extracted.items()}
        return cls(name, texts, formats, metadata, golden, vector_cache)

    def documents(self) -> list[IncomingDocument]:
        """The pages as ``faro ingest`` sends them: the extracted text, its format, the page's title."""
        return [
            IncomingDocument(doc_id, text, doc_id, self.formats[doc_id], self.metadata[doc_id])
            for doc_id, text in self.texts.items()
        ]


@dataclass(frozen=True, slots=True)
class Contender:
    name: str
    search: DocumentSearch
    chunks: int
    index_seconds: float


def windows(text: str, size: int, overlap: int) -> list[str]:
    """``text`` cut every ``size - overlap`` characters into ``size``-character windows (blank ones
    dropped)."""
    step = size - overlap
    starts = range(0, max(len(text) - overlap, 1), step)
    return [window for start in starts if (window := text[start : start + size].strip())]


def _window_chunks(texts: dict[str, str]) -> tuple[list[str], list[str]]:
    """Each window's document id and text, over every document."""
    pairs = [
        (doc_id, window)
        for doc_id, text in texts.items()
        for window in windows(text, WINDOW_CHARS, WINDOW_OVERLAP)
    ]
    return [doc_id for doc_id, _ in pairs], [window for _, window in pairs]


def _ranked(chunk_docs: Sequence[str], order: Sequence[int], k: int) -> list[str]:
    return first_documents((chunk_docs[i] for i in order), k)


def dense_windows(texts: dict[str, str], embedder: Embedder, query_embedder: Embedder) -> Contender:
    started = time.perf_counter()
    chunk_docs, chunk_texts = _window_chunks(texts)
    matrix = embedder.embed(chunk_texts)
    seconds = time.perf_counter() - started

    def search(questions: Sequence[str], k: int) -> list[list[str]]:
        scores = query_embedder.embed(list(questions)) @ matrix.T
        top = np.argsort(-scores, axis=1)[:, :CANDIDATES]
        return [_ranked(chunk_docs, row, k) for row in top]

    return Contender(f"fixed {WINDOW_CHARS}/{WINDOW_OVERLAP} chars", search, len(chunk_texts), seconds)


def bm25_windows(texts: dict[str, str]) -> Contender:
    import bm25s  # the bench extra

    started = time.perf_counter()
    chunk_docs, chunk_texts = _window_chunks(texts)
    index = bm25s.BM25()
    index.index(bm25s.tokenize(chunk_texts, stopwords="en", show_progress=False), show_progress=False)
    seconds = time.perf_counter() - started

    def search(questions: Sequence[str], k: int) -> list[list[str]]:
        tokens = bm25s.tokenize(list(questions), stopwords="en", show_progress=False)
        found, _ = index.retrieve(tokens, k=min(CANDIDATES, len(chunk_texts)), show_progress=False)
        return [_ranked(chunk_docs, row, k) for row in found]

    return Contender(f"bm25 {WINDOW_CHARS}/{WINDOW_OVERLAP} chars", search, len(chunk_texts), seconds)


def _faro_pipeline(
    stores: BenchStores,
    eval_set: EvalSet,
    embedder: Embedder,
    query_embedder: Embedder,
    chunking: ChunkingConfig,
) -> tuple[Retriever, int, float]:
    """A Faro pipeline as ``faro ingest`` feeds it (an HTML page's <title> as its title), chunking as
    ``chunking`` says: its retriever (embedding questions with ``query_embedder``), its chunk count and how
    long the ingest took."""
    collection = stores.new_collection("eval")
    pg, qdrant = stores.pg_store(collection), stores.qdrant_store(collection)
    started = time.perf_counter()
    service = IngestService(
        Chunker(chunking, embedder=embedder).prepare(),
        embedder,
        pg,
        DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant)),
    )
    chunks = sum(result.chunks for result in service.ingest_many(eval_set.documents()))
    seconds = time.perf_counter() - started
    return Retriever.over(query_embedder, pg, qdrant, QueryConfig(qdrant_timeout_seconds=60)), chunks, seconds


def _asking(
    retriever: Retriever,
    backend: Backend,
    mode: SearchMode | None,
    per_document: int | None = None,
    depth: int = CANDIDATES,
) -> DocumentSearch:
    def search(questions: Sequence[str], k: int) -> list[list[str]]:
        answers = [retriever.query(q, depth, None, backend, mode, per_document) for q in questions]
        return [first_documents((hit.doc_id for hit in answer.hits), k) for answer in answers]

    return search


def faro_default(
    stores: BenchStores, eval_set: EvalSet, embedder: Embedder, query_embedder: Embedder
) -> list[Contender]:
    """Faro's default pipeline asked on both backends in each search mode (one ingest), and what an
    application sees of its first 5 hits with and without grouping by document."""
    retriever, chunks, seconds = _faro_pipeline(stores, eval_set, embedder, query_embedder, ChunkingConfig())
    default = QueryConfig().default_mode
    return [
        *(
            Contender(
                f"faro {mode.value}{' (default)' if mode is default else ''} ({backend.value})",
                _asking(retriever, backend, mode),
                chunks,
                seconds,
            )
            for mode in SearchMode
            for backend in (Backend.QDRANT, Backend.POSTGRES)
        ),
        Contender(
            f"hits: first {K} chunks (qdrant)",
            _asking(retriever, Backend.QDRANT, None, 0, K),
            chunks,
            seconds,
        ),
        Contender(
            f"hits: first {K}, 1 per document (qdrant)",
            _asking(retriever, Backend.QDRANT, None, 1, K),
            chunks,
            seconds,
        ),
    ]


def faro_strategy(
    stores: BenchStores, eval_set: EvalSet, embedder: Embedder, query_embedder: Embedder, strategy: str
) -> list[Contender]:
    """Faro's default pipeline with another chunking strategy, dense and hybrid (Qdrant path). The semantic
    strategy's sentence embeddings are counted in its index row's name (its extra embedding cost)."""
    before = SENTENCE_EMBEDDINGS._value.get()
    config = ChunkingConfig(strategy=strategy)  # type: ignore[arg-type]
    retriever, chunks, seconds = _faro_pipeline(stores, eval_set, embedder, query_embedder, config)
    sentences = int(SENTENCE_EMBEDDINGS._value.get() - before)
    cost = f", +{sentences} sentence embeddings" if sentences else ""
    return [
        Contender(
            f"faro {strategy}{cost}: {mode.value} (qdrant)",
            _asking(retriever, Backend.QDRANT, mode),
            chunks,
            seconds,
        )
        for mode in (SearchMode.DENSE, SearchMode.HYBRID)
    ]


@dataclass(frozen=True, slots=True)
class CorpusResult:
    corpus: str
    pages: int
    questions: int
    scores: dict[str, tuple[Contender, RetrievalScore]]

    def _default(self) -> list[RetrievalScore]:
        return [score for name, (_, score) in self.scores.items() if "(default)" in name]

    def faro_gain(self) -> float:
        """The MRR of Faro's default mode on its weaker backend minus the best naive MRR."""
        naive = max(
            score.mrr for name, (_, score) in self.scores.items() if not name.startswith(("faro", "hits"))
        )
        return min(score.mrr for score in self._default()) - naive

    def faro_recall(self) -> float:
        return min(score.recall for score in self._default())


def evaluate(
    eval_set: EvalSet, query_embedder: Embedder, contenders: Callable[[EvalSet, Embedder], list[Contender]]
) -> CorpusResult:
    if eval_set.vector_cache is None:
        built = contenders(eval_set, query_embedder)
    else:
        cache = FileEmbeddingCache(eval_set.vector_cache)
        try:
            built = contenders(eval_set, CachedEmbedder(query_embedder, cache))
        finally:
            cache.save()
    golden = eval_set.golden
    scores = {c.name: (c, score_retrieval(golden, c.search, K, depth=DEPTH)) for c in built}
    return CorpusResult(eval_set.name, len(eval_set.texts), len(golden.queries), scores)


def build_report(results: list[CorpusResult], parameters: dict[str, object]) -> BenchReport:
    rows = [
        Row(
            f"{result.corpus}: {name}",
            {
                f"recall@{K}": round(score.recall, 3),
                f"MRR@{DEPTH}": round(score.mrr, 3),
                f"nDCG@{DEPTH}": round(score.ndcg, 3),
                "chunks": contender.chunks,
                "index s": round(contender.index_seconds, 1),
            },
        )
        for result in results
        for name, (contender, score) in result.scores.items()
    ]
    return BenchReport(
        name="retrieval",
        ratio=min(result.faro_gain() for result in results),
        target=TARGET_MRR_GAIN,
        rows=rows,
        parameters=parameters,
        extra={
            "mrr_gain": {result.corpus: round(result.faro_gain(), 4) for result in results},
            "faro_recall": {result.corpus: round(result.faro_recall(), 4) for result in results},
            "recall_target": TARGET_RECALL,
            "questions": {result.corpus: result.questions for result in results},
            "pages": {result.corpus: result.pages for result in results},
        },
    )


def eval_sets(args: argparse.Namespace) -> list[EvalSet]:
    """The sets the command line asks for: ``--pages`` + ``--questions``, else the corpora named (all)."""
    if args.pages is not None or args.questions is not None:
        if args.pages is None or args.questions is None or args.corpus:
            raise CorpusError("--pages and --questions go together, without --corpus")
        files = find_document_files([args.pages])
        pages = [Page(found.doc_id, found.path.read_bytes()) for found in files]
        cache = None if args.no_vector_cache else cache_dir() / "vectors" / f"{args.pages.resolve().name}.npz"
        return [EvalSet.of(args.pages.name, pages, load_golden_queries(args.questions), cache)]
    sets = []
    for name in args.corpus or sorted(CORPORA):
        corpus = CORPORA[name]
        cache = None if args.no_vector_cache else cache_dir() / "vectors" / f"{name}.npz"
        sets.append(EvalSet.of(name, corpus.pages(), corpus.questions(), cache))
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="Default: every corpus.")
    parser.add_argument("--pages", type=Path, help="A folder of your documents (ids as faro ingest gives).")
    parser.add_argument("--questions", type=Path, help="Questions about --pages (faro eval's format).")
    parser.add_argument("--no-vector-cache", action="store_true", help="Embed everything again.")
    parser.add_argument(
        "--strategy",
        action="append",
        choices=[name for name in get_args(ChunkingStrategy) if name != DEFAULT_STRATEGY],
        help="Also measure Faro with this chunking strategy (dense and hybrid, Qdrant path).",
    )
    args = parser.parse_args(argv)
    try:
        sets = eval_sets(args)
    except (CorpusError, ConfigurationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    query_embedder = MiniLMEmbedder()

    with bench_stores(dimension=query_embedder.dimension) as stores:

        def contenders(eval_set: EvalSet, embedder: Embedder) -> list[Contender]:
            return [
                *faro_default(stores, eval_set, embedder, query_embedder),
                *(
                    contender
                    for strategy in args.strategy or ()
                    for contender in faro_strategy(stores, eval_set, embedder, query_embedder, strategy)
                ),
                dense_windows(eval_set.texts, embedder, query_embedder),
                bm25_windows(eval_set.texts),
            ]

        results = [evaluate(eval_set, query_embedder, contenders) for eval_set in sets]
    names = [eval_set.name for eval_set in sets]
    parameters = {"corpora": names, "k": K, "depth": DEPTH, "candidate_chunks": CANDIDATES, "model": "MiniLM"}
    build_report(results, parameters).print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
