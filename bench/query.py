"""Benchmark 3, query: Faro's query service over HTTP against the raw store query in-process, per backend.

Set-up (not timed): the corpus is loaded into PostgreSQL (``bulk_load``, then VACUUM ANALYZE as ``pgbench -i``
does: the table as autovacuum leaves it) and Qdrant local mode (in memory, rebuilt with ``repair_qdrant``).
The corpus is synthetic (:mod:`bench.corpus`: words drawn evenly from ~230, so every word of a query is in
most chunks, a lexical search's worst case), or with ``--corpus`` an evaluation corpus's real pages
(``bench/eval``) asked its questions in turn. The product's query app (``build_query_app``: FastAPI,
``Retriever`` with the hashing embedder, Qdrant first / pgvector fallback) is served by uvicorn on
127.0.0.1:<free port> on a thread of this process; the load generator (:mod:`bench.loadgen`) is a separate
process: ``--concurrency`` closed-loop clients, each request asking for the dense search mode (the raw store's
work) from Qdrant as users ask (``"backend": "auto"``: circuit breaker, timeout and fallback; the answer must
come from Qdrant) or from PostgreSQL by name (``"backend": "postgres"``).

Baseline, same run, same query texts embedded beforehand (the service embeds them itself, per request): the
raw store query in-process, by the same number of closed-loop threads: the bare engine of local mode holding
the same points (:mod:`bench.raw_qdrant`: Qdrant Edge's shard, or qdrant-client's local mode with
``--qdrant-engine python``; one call at a time, as Faro runs local mode's calls on one thread of their own),
and the same pgvector SQL through a psycopg pool as large as Faro's. The service answers on its event loop
(asynchronous PostgreSQL pool, Qdrant's calls handed to that thread) and, by default, groups hits by document
(at most one chunk per document, chosen among 4x top_k candidates: in PostgreSQL's SQL, after Qdrant's
search), which the raw query does not.

    headline = largest added p50 (Faro p50 - raw p50, ms) over both backends at --concurrency
               (target <= 2 ms; lower is better); added p99 is reported too (target <= 5 ms)

Hybrid mode (the vector and BM25 searches of one store, fused) is measured against Faro's own dense mode at
one client, per backend: what hybrid adds to p50 (target <= 3 ms), in ``extra.hybrid_added_p50_ms``; and
at ``--concurrency`` clients against the same hybrid search called in-process by as many threads (the
retriever on the process's background loop, no HTTP).

Throughput: every closed-loop run at ``--concurrency`` clients also gives requests/s (requests over the
run's wall time), the service's and its baseline's; ``extra.req_per_s_ratio`` per case, target >= 0.5.

Run: ``python -m bench.query [--chunks 2000] [--queries 2000] [--concurrency 50]``; ``--quick`` for a
smoke run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg_pool import ConnectionPool

from bench.corpus import Corpus, build_corpus, chunk_and_embed, make_queries
from bench.eval_corpora import CORPORA
from bench.loadgen import due_times, latency_start
from bench.measure import percentiles_ms, settle_heap
from bench.options import add_engine_option
from bench.report import BenchReport, Row
from bench.retrieval import EvalSet
from bench.stores import BenchStores, bench_stores
from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.settings import (
    ChunkingConfig,
    CollectionConfig,
    FaroSettings,
    PostgresConfig,
    QueryConfig,
)
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.retrieval import Backend, Retriever
from faro_workloads.services.query import build_query_app

BACKENDS = ("qdrant", "postgres")
TARGET_P50_MS = 2.0
TARGET_P99_MS = 5.0
TARGET_HYBRID_P50_MS = 3.0
"""What hybrid mode may add to a dense query's p50 at one client (both signals, one fusion)."""
TARGET_RPS_RATIO = 0.5
"""The service's requests/s at --concurrency clients over the raw store's, per backend and mode."""
TOP_K = QueryConfig().default_top_k
T = TypeVar("T")
EF_SEARCH = PostgresConfig().ef_search


@dataclass(frozen=True, slots=True)
class Load:
    """What a run of requests measured: each one's latency (s) and the run's wall time (s)."""

    latencies: list[float]
    seconds: float

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds


def http_latencies(
    url: str,
    queries: list[str],
    concurrency: int,
    backend: str,
    warmup: int,
    rate: float | None = None,
    mode: str = "dense",
) -> Load:
    """Latencies (s) of ``queries`` sent by the load-generator process (open loop at ``rate`` req/s), in
    search ``mode`` (dense: the raw store's work), and how long they took in all."""
    job = {
        "url": url,
        "queries": queries,
        "concurrency": concurrency,
        "backend": backend,
        "mode": mode,
        "top_k": TOP_K,
        "warmup": warmup,
        "rate": rate,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    answer = json.loads(done.stdout)
    return Load(answer["latencies"], answer["seconds"])


def in_process_latencies(
    call: Callable[[T], object], vectors: Sequence[T], concurrency: int, rate: float | None = None
) -> Load:
    """Latencies (s) of ``call`` on every vector by ``concurrency`` threads, as the load generator sends
    them: closed loop, or open loop at ``rate`` calls/s in all (call ``j`` due at ``j / rate`` s, made by
    thread ``j % concurrency``; latency counted as :func:`bench.loadgen.latency_start` says)."""
    latencies: list[float] = []
    due = due_times(len(vectors), rate)

    def worker(first: int) -> None:
        answered_at = 0.0
        for index in range(first, len(vectors), concurrency):
            if (wait := due[index] - time.perf_counter()) > 0:
                time.sleep(wait)
            started = latency_start(due[index], answered_at)
            call(vectors[index])
            answered_at = time.perf_counter()
            latencies.append(answered_at - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker, first) for first in range(concurrency)]:
            future.result()
    return Load(latencies, time.perf_counter() - started)


class RawQueries:
    """The stores queried directly: the bare Qdrant engine of local mode and a psycopg pool, same data."""

    def __init__(self, stores: BenchStores, corpus: Corpus, collection: CollectionConfig) -> None:
        self._qdrant = stores.raw_qdrant(stores.new_collection("rawq"))
        self._qdrant_lock = threading.Lock()
        self._qdrant.upsert(self._qdrant.batches(corpus.chunks))
        size = PostgresConfig().pool_size
        self._pool = ConnectionPool(stores.dsn, min_size=size, max_size=size, configure=_configure, open=True)
        self._statement = sql.SQL(
            "SELECT id, doc_id, seq, text, metadata, embedding <=> %s AS distance FROM {} "
            "ORDER BY embedding <=> %s LIMIT %s"
        ).format(stores.chunks_table(collection))

    def qdrant(self, vector: np.ndarray) -> object:
        with self._qdrant_lock:  # one call at a time, as Faro's local mode calls it
            return self._qdrant.query(vector, TOP_K)

    def postgres(self, vector: np.ndarray) -> object:
        with self._pool.connection() as conn:
            return conn.execute(self._statement, (vector, vector, TOP_K)).fetchall()

    def close(self) -> None:
        self._pool.close()


def _configure(conn: psycopg.Connection) -> None:
    register_vector(conn)
    conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(EF_SEARCH)))
    conn.commit()


def serve_faro(stores: BenchStores, corpus: Corpus) -> tuple[BackgroundServer, Retriever, CollectionConfig]:
    """Both stores loaded with the corpus and the product's query app serving them on a free port."""
    collection = stores.new_collection("query")
    pg, qdrant = stores.pg_store(collection), stores.qdrant_store(collection)
    pg.bulk_load(corpus.chunks)
    stores.vacuum_analyze(collection)
    repair_qdrant(pg, qdrant)
    settings = FaroSettings(
        collection=collection,
        postgres=stores.postgres_config,
        qdrant=stores.qdrant_config,
        # Capacity is measured, not the timeout: 50 hybrid queries queued on local mode's lock wait longer
        # than the default 2 s and would be answered by the fallback instead.
        query=QueryConfig(qdrant_timeout_seconds=60),
    )
    retriever = Retriever.over(HashingEmbedder(dimension=stores.dimension), pg, qdrant, settings.query)
    server = BackgroundServer(build_query_app(settings, retriever, pg, qdrant), "127.0.0.1", free_port())
    server.start()
    return server, retriever, collection


def measure(stores: BenchStores, corpus: Corpus, queries: list[str], args: argparse.Namespace) -> list[Row]:
    vectors = HashingEmbedder(dimension=stores.dimension).embed(queries)
    server, retriever, collection = serve_faro(stores, corpus)
    raw = RawQueries(stores, corpus, collection)
    settle_heap()
    rows: list[Row] = []
    try:
        cases = [(1, None), (args.concurrency, None)] + [(args.concurrency, rate) for rate in args.rates]
        for concurrency, rate in cases:
            for backend in BACKENDS:
                call = raw.qdrant if backend == "qdrant" else raw.postgres
                in_process_latencies(call, vectors[: args.warmup], concurrency, rate)
                raw_load = in_process_latencies(call, vectors, concurrency, rate)
                faro_load = http_latencies(server.url, queries, concurrency, backend, args.warmup, rate)
                rows.append(_row(backend, concurrency, rate, faro_load, raw_load))
                print(f"{rows[-1].name}: {rows[-1].figures}", file=sys.stderr)
        for backend in BACKENDS:  # what hybrid adds: both signals and their fusion, against dense, 1 client
            dense = http_latencies(server.url, queries, 1, backend, args.warmup)
            hybrid = http_latencies(server.url, queries, 1, backend, args.warmup, None, "hybrid")
            rows.append(_hybrid_row(backend, hybrid, dense))
            print(f"{rows[-1].name}: {rows[-1].figures}", file=sys.stderr)
        for backend in BACKENDS:  # hybrid under load: the service against the same search in-process
            asked = Backend.AUTO if backend == "qdrant" else Backend.POSTGRES  # as the service is asked
            in_process = partial(_hybrid_in_process, retriever, asked)
            in_process_latencies(in_process, queries[: args.warmup], args.concurrency)
            raw_load = in_process_latencies(in_process, queries, args.concurrency)
            faro_load = http_latencies(
                server.url, queries, args.concurrency, backend, args.warmup, None, "hybrid"
            )
            rows.append(_row(f"{backend} hybrid", args.concurrency, None, faro_load, raw_load))
            print(f"{rows[-1].name}: {rows[-1].figures}", file=sys.stderr)
    finally:
        raw.close()
        server.stop()
        retriever.close()
    return rows


def _hybrid_in_process(retriever: Retriever, backend: Backend, text: str) -> object:
    """A hybrid query as the service answers it (embedding, both searches, fusion), without HTTP."""
    return retriever.query(text, TOP_K, None, backend, SearchMode.HYBRID)


def _figures(label: float | str, faro: Load, raw: Load) -> dict[str, float | int | str]:
    faro_ms, raw_ms = percentiles_ms(faro.latencies), percentiles_ms(raw.latencies)
    figures: dict[str, float | int | str] = {"rate/s": label}
    figures |= {f"faro {key}": value for key, value in faro_ms.items()}
    figures |= {f"raw {key}": value for key, value in raw_ms.items()}
    figures["added p50_ms"] = faro_ms["p50_ms"] - raw_ms["p50_ms"]
    figures["added p99_ms"] = faro_ms["p99_ms"] - raw_ms["p99_ms"]
    figures["faro req/s"] = faro.per_second
    figures["raw req/s"] = raw.per_second
    figures["req/s ratio"] = faro.per_second / raw.per_second
    return figures


def _row(name: str, concurrency: int, rate: float | None, faro: Load, raw: Load) -> Row:
    figures = {"clients": concurrency} | _figures(rate or "closed loop", faro, raw)
    return Row(f"{name} x{concurrency}" + (f" @{rate:g}/s" if rate else ""), figures)


def _hybrid_row(backend: str, hybrid: Load, dense: Load) -> Row:
    """Hybrid against Faro's own dense mode (the baseline's columns), one client."""
    figures = {"clients": 1} | _figures("closed loop (hybrid vs dense)", hybrid, dense)
    return Row(f"{backend} hybrid x1", figures)


def build_report(rows: list[Row], concurrency: int, parameters: dict[str, object]) -> BenchReport:
    loaded = [
        row
        for row in rows
        if row.figures["clients"] == concurrency and row.figures["rate/s"] == "closed loop"
    ]
    headline = [row for row in loaded if "hybrid" not in row.name]  # against the raw store's dense query
    hybrid = {
        row.name.split()[0]: float(row.figures["added p50_ms"])
        for row in rows
        if row.name.endswith("hybrid x1")
    }
    throughput = {row.name: round(float(row.figures["req/s ratio"]), 3) for row in loaded}
    added_p50 = max(float(row.figures["added p50_ms"]) for row in headline)
    added_p99 = max(float(row.figures["added p99_ms"]) for row in headline)
    return BenchReport(
        name="query",
        ratio=added_p50,
        target=TARGET_P50_MS,
        rows=rows,
        parameters=parameters,
        higher_is_better=False,
        extra={
            "ratio_is": f"largest added p50 latency in ms over both backends at {concurrency} clients",
            "added_p99_ms": round(added_p99, 3),
            "target_added_p99_ms": TARGET_P99_MS,
            "meets_p99_target": added_p99 <= TARGET_P99_MS,
            "hybrid_added_p50_ms": {backend: round(ms, 3) for backend, ms in hybrid.items()},
            "target_hybrid_added_p50_ms": TARGET_HYBRID_P50_MS,
            "meets_hybrid_target": all(ms <= TARGET_HYBRID_P50_MS for ms in hybrid.values()),
            "req_per_s_ratio": throughput,
            "target_req_per_s_ratio": TARGET_RPS_RATIO,
            "meets_req_per_s_target": all(ratio >= TARGET_RPS_RATIO for ratio in throughput.values()),
        },
    )


def documentation_corpus(name: str, embedder: HashingEmbedder) -> tuple[Corpus, list[str]]:
    """An evaluation corpus's pages as ``faro ingest`` sends them (text extraction, a page's title), cut by
    the default chunking with their context, and its questions."""
    corpus = CORPORA[name]
    eval_set = EvalSet.of(name, corpus.pages(), corpus.questions(), None)
    documents = eval_set.documents()
    chunks = chunk_and_embed(documents, Chunker(ChunkingConfig()), embedder)
    return Corpus(documents, chunks), [question.query for question in eval_set.golden.queries]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.query", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--chunks", type=int, default=2000, help="About this many chunks in the collection.")
    parser.add_argument("--queries", type=int, default=2000, help="Measured queries per case.")
    parser.add_argument("--warmup", type=int, default=200, help="Unmeasured queries first, per case.")
    parser.add_argument("--concurrency", type=int, default=50, help="Concurrent clients (also run with 1).")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(rate) for rate in text.split(",") if rate],
        default=[50.0, 200.0],
        help="Also run open loop at these total rates (requests/s, comma-separated; '' for none), "
        "with --concurrency clients.",
    )
    parser.add_argument(
        "--corpus",
        choices=sorted(CORPORA),
        help="Real documentation instead of the synthetic corpus: an evaluation corpus's pages (bench/eval),"
        " chunked as Faro's default chunking cuts them, asked its questions (in turn); --chunks is ignored.",
    )
    parser.add_argument("--quick", action="store_true", help="Smoke run: 200 chunks, 200 queries.")
    add_engine_option(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks, args.queries, args.warmup = 200, 200, 20
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    embedder = HashingEmbedder()
    if args.corpus:
        corpus, questions = documentation_corpus(args.corpus, embedder)
        queries = list(itertools.islice(itertools.cycle(questions), args.queries))
    else:
        corpus, queries = build_corpus(args.chunks, 8, embedder), make_queries(args.queries)
    parameters = {
        "corpus": args.corpus or "synthetic",
        "chunks": len(corpus.chunks),
        "queries": args.queries,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "open_loop_rates": args.rates,
        "top_k": TOP_K,
        "qdrant": "memory",
        "qdrant_engine": args.qdrant_engine,
    }
    with bench_stores(embedder.dimension, engine=args.qdrant_engine) as stores:
        rows = measure(stores, corpus, queries, args)
    build_report(rows, args.concurrency, parameters).print()


if __name__ == "__main__":
    main()
