"""Benchmark 3, query: Faro's query service over HTTP against the raw store query in-process, per backend.

Set-up (not timed): the corpus is loaded into PostgreSQL (``bulk_load``) and Qdrant local mode (in memory,
rebuilt with ``repair_qdrant``). The product's query app (``build_query_app``: FastAPI, ``Retriever`` with
the hashing embedder, Qdrant first / pgvector fallback) is served by uvicorn on 127.0.0.1:<free port> on a
thread of this process; the load generator (:mod:`bench.loadgen`) is a separate process: ``--concurrency``
closed-loop clients, each request naming the backend (``"backend": "qdrant"`` or ``"postgres"``) and the
dense search mode (the raw store's work).

Baseline, same run, same query texts embedded beforehand (the service embeds them itself, per request):
the raw store query in-process, by the same number of closed-loop threads: ``qdrant_client.query_points``
on a bare local-mode client holding the same points (one lock: local mode is not thread-safe, and Faro
takes the same lock), and the same pgvector SQL through a psycopg pool as large as Faro's.

    headline = largest added p50 (Faro p50 - raw p50, ms) over both backends at --concurrency
               (target <= 2 ms; lower is better); added p99 is reported too (target <= 5 ms)

Hybrid mode (the vector and BM25 searches of one store, fused) is measured against Faro's own dense mode at
one client, per backend: what hybrid adds to p50 (target <= 3 ms), in ``extra.hybrid_added_p50_ms``.

Run: ``python -m bench.query [--chunks 2000] [--queries 2000] [--concurrency 50]``; ``--quick`` for a
smoke run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg_pool import ConnectionPool

from bench.baselines import point_batches, raw_qdrant_upsert
from bench.corpus import Corpus, build_corpus, make_queries
from bench.loadgen import due_times, latency_start
from bench.measure import percentiles_ms, settle_heap
from bench.report import BenchReport, Row
from bench.stores import BenchStores, bench_stores
from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.settings import (
    CollectionConfig,
    FaroSettings,
    PostgresConfig,
    QdrantConfig,
    QueryConfig,
)
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.retrieval import Retriever
from faro_workloads.services.query import build_query_app

BACKENDS = ("qdrant", "postgres")
TARGET_P50_MS = 2.0
TARGET_P99_MS = 5.0
TARGET_HYBRID_P50_MS = 3.0
"""What hybrid mode may add to a dense query's p50 at one client (both signals, one fusion)."""
TOP_K = QueryConfig().default_top_k
EF_SEARCH = PostgresConfig().ef_search


def http_latencies(
    url: str,
    queries: list[str],
    concurrency: int,
    backend: str,
    warmup: int,
    rate: float | None = None,
    mode: str = "dense",
) -> list[float]:
    """Latencies (s) of ``queries`` sent by the load-generator process (open loop at ``rate`` req/s), in
    search ``mode`` (dense: the raw store's work)."""
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
    return json.loads(done.stdout)


def in_process_latencies(
    call: Callable[[np.ndarray], object], vectors: np.ndarray, concurrency: int, rate: float | None = None
) -> list[float]:
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

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker, first) for first in range(concurrency)]:
            future.result()
    return latencies


class RawQueries:
    """The stores queried directly: a bare Qdrant local-mode client and a psycopg pool, same data."""

    def __init__(self, stores: BenchStores, corpus: Corpus, collection: CollectionConfig) -> None:
        raw = stores.new_collection("rawq")
        self._qdrant = stores.raw_qdrant(raw)
        self._qdrant_name = raw.name
        self._qdrant_lock = threading.Lock()
        raw_qdrant_upsert(self._qdrant, raw, point_batches(corpus.chunks))
        size = PostgresConfig().pool_size
        self._pool = ConnectionPool(stores.dsn, min_size=size, max_size=size, configure=_configure, open=True)
        self._statement = sql.SQL(
            "SELECT id, doc_id, seq, text, metadata, embedding <=> %s AS distance FROM {} "
            "ORDER BY embedding <=> %s LIMIT %s"
        ).format(stores.chunks_table(collection))

    def qdrant(self, vector: np.ndarray) -> object:
        with self._qdrant_lock:
            return self._qdrant.query_points(
                self._qdrant_name, query=vector.tolist(), limit=TOP_K, with_payload=True
            )

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
    repair_qdrant(pg, qdrant)
    settings = FaroSettings(
        collection=collection,
        postgres=stores.postgres_config,
        qdrant=QdrantConfig(path=":memory:"),
    )
    retriever = Retriever(HashingEmbedder(dimension=stores.dimension), pg, qdrant, settings.query)
    server = BackgroundServer(build_query_app(settings, retriever, pg, qdrant), "127.0.0.1", free_port())
    server.start()
    return server, retriever, collection


def measure(stores: BenchStores, corpus: Corpus, args: argparse.Namespace) -> list[Row]:
    queries = make_queries(args.queries)
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
                raw_ms = percentiles_ms(in_process_latencies(call, vectors, concurrency, rate))
                faro_ms = percentiles_ms(
                    http_latencies(server.url, queries, concurrency, backend, args.warmup, rate)
                )
                rows.append(_row(backend, concurrency, rate, faro_ms, raw_ms))
                print(f"{rows[-1].name}: faro {faro_ms}, raw {raw_ms}", file=sys.stderr)
        for backend in BACKENDS:  # what hybrid adds: both signals and their fusion, against dense, 1 client
            dense_ms = percentiles_ms(http_latencies(server.url, queries, 1, backend, args.warmup))
            hybrid_ms = percentiles_ms(
                http_latencies(server.url, queries, 1, backend, args.warmup, None, "hybrid")
            )
            rows.append(_hybrid_row(backend, hybrid_ms, dense_ms))
            print(f"{rows[-1].name}: hybrid {hybrid_ms}, dense {dense_ms}", file=sys.stderr)
    finally:
        raw.close()
        server.stop()
        retriever.close()
    return rows


def _row(
    backend: str, concurrency: int, rate: float | None, faro: dict[str, float], raw: dict[str, float]
) -> Row:
    figures: dict[str, float | int | str] = {"clients": concurrency, "rate/s": rate or "closed loop"}
    figures |= {f"faro {key}": value for key, value in faro.items()}
    figures |= {f"raw {key}": value for key, value in raw.items()}
    figures["added p50_ms"] = faro["p50_ms"] - raw["p50_ms"]
    figures["added p99_ms"] = faro["p99_ms"] - raw["p99_ms"]
    return Row(f"{backend} x{concurrency}" + (f" @{rate:g}/s" if rate else ""), figures)


def _hybrid_row(backend: str, hybrid: dict[str, float], dense: dict[str, float]) -> Row:
    figures: dict[str, float | int | str] = {"clients": 1, "rate/s": "closed loop (hybrid vs dense)"}
    figures |= {f"faro {key}": value for key, value in hybrid.items()}
    figures |= {f"raw {key}": value for key, value in dense.items()}  # the baseline: Faro's dense mode
    figures["added p50_ms"] = hybrid["p50_ms"] - dense["p50_ms"]
    figures["added p99_ms"] = hybrid["p99_ms"] - dense["p99_ms"]
    return Row(f"{backend} hybrid x1", figures)


def build_report(rows: list[Row], concurrency: int, parameters: dict[str, object]) -> BenchReport:
    headline = [
        row
        for row in rows
        if row.figures["clients"] == concurrency and row.figures["rate/s"] == "closed loop"
    ]
    hybrid = {row.name.split()[0]: float(row.figures["added p50_ms"]) for row in rows if "hybrid" in row.name}
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
        },
    )


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
    parser.add_argument("--quick", action="store_true", help="Smoke run: 200 chunks, 200 queries.")
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks, args.queries, args.warmup = 200, 200, 20
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    embedder = HashingEmbedder()
    corpus = build_corpus(args.chunks, 8, embedder)
    parameters = {
        "chunks": len(corpus.chunks),
        "queries": args.queries,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "open_loop_rates": args.rates,
        "top_k": TOP_K,
        "qdrant": "memory",
    }
    with bench_stores(embedder.dimension) as stores:
        rows = measure(stores, corpus, args)
    build_report(rows, args.concurrency, parameters).print()


if __name__ == "__main__":
    main()
