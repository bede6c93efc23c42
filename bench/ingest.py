"""Benchmark 1, ingest: documents -> chunking -> embedding -> outbox -> PostgreSQL + Qdrant, end to end.

Faro side: the product's :class:`IngestService` (recursive chunker, hashing embedder, :class:`DualWriter`
with its outbox drainer) over the product's stores, one ``ingest_many()`` call for every document, as
``faro local`` ingests a folder. Baseline, same run, same chunks and vectors: the raw cost of each store
alone (one binary COPY into the chunks table; batched ``upsert`` into Qdrant local mode). Every run starts
from empty, freshly created collections.

    ratio = faro chunks/s / chunks/s of the slower raw store, per run; median of runs   (target >= 0.8)

For information (not in the ratio): the same rows in as many concurrent COPYs as the transactions Faro runs
at once, i.e. what PostgreSQL can take when a raw loader uses that parallelism too.

Run: ``python -m bench.ingest [--chunks 2000] [--repeat 3]``; ``--quick`` for a smoke run; ``--profile``
prints a pyinstrument profile of one Faro run to stderr.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.baselines import copy_rows, raw_pg_copy, timed_raw_qdrant_upsert
from bench.corpus import BENCH_CHUNKING, Corpus, build_corpus
from bench.measure import median, timed
from bench.options import parse_store_bench_args, store_bench_parser
from bench.profiling import maybe_profile
from bench.report import BenchReport, Row
from bench.stores import BenchStores, bench_stores
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import CONCURRENT_COMMITS, IngestService
from faro_workloads.core.outbox import OutboxDrainer

TARGET = 0.8


@dataclass(frozen=True, slots=True)
class Timings:
    faro: list[float]
    raw_pg: list[float]
    raw_qdrant: list[float]
    raw_pg_parallel: list[float]  # for information, not in the ratio


def faro_ingest(stores: BenchStores, corpus: Corpus, chunker: Chunker, profile: bool = False) -> float:
    """Seconds for Faro to ingest every document into fresh collections (checked complete afterwards)."""
    collection = stores.new_collection("faro")
    pg, qdrant = stores.pg_store(collection), stores.qdrant_store(collection)
    embedder = HashingEmbedder(dimension=stores.dimension)
    service = IngestService(chunker, embedder, pg, DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant)))
    with maybe_profile(profile):
        seconds = timed(lambda: list(service.ingest_many(corpus.documents)))
    expected = len(corpus.chunks)
    if (pg.count(), qdrant.count(), pg.outbox_pending()) != (expected, expected, 0):
        raise RuntimeError(f"faro ingest incomplete: pg {pg.count()}, qdrant {qdrant.count()} of {expected}")
    stores.close(qdrant)
    stores.close(pg)
    return seconds


def raw_pg(stores: BenchStores, corpus: Corpus, writers: int = 1) -> float:
    """Seconds to binary-COPY every chunk into fresh tables like Faro's: one COPY in one transaction (the
    baseline), or ``writers`` concurrent COPYs of contiguous parts, one transaction each (for information:
    as many as the transactions Faro runs at once)."""
    collection = stores.new_collection(f"rawpg{writers}")
    stores.close(stores.pg_store(collection))  # the same tables and indexes Faro creates
    rows = copy_rows(corpus.chunks)
    size = -(-len(rows) // writers)
    parts = [rows[start : start + size] for start in range(0, len(rows), size)]

    def copy_all() -> None:
        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            for done in [pool.submit(raw_pg_copy, stores, collection, part) for part in parts]:
                done.result()

    return timed(copy_all)


def raw_qdrant(stores: BenchStores, corpus: Corpus) -> float:
    return timed_raw_qdrant_upsert(stores, corpus.chunks)


def measure(stores: BenchStores, corpus: Corpus, repeat: int, warmup: int, profile: bool) -> Timings:
    chunker = Chunker(BENCH_CHUNKING)
    timings = Timings([], [], [], [])
    for run in range(warmup + repeat):
        # Interleaved, so a burst of noise from the neighbours hits every case alike.
        faro = faro_ingest(stores, corpus, chunker, profile=profile and run == warmup)
        pg, qdrant = raw_pg(stores, corpus), raw_qdrant(stores, corpus)
        pg_parallel = raw_pg(stores, corpus, writers=CONCURRENT_COMMITS)
        if run >= warmup:
            timings.faro.append(faro)
            timings.raw_pg.append(pg)
            timings.raw_qdrant.append(qdrant)
            timings.raw_pg_parallel.append(pg_parallel)
        print(
            f"run {run + 1}/{warmup + repeat}{' (warm-up)' if run < warmup else ''}: faro {faro:.3f}s, "
            f"raw pg {pg:.3f}s, raw qdrant {qdrant:.3f}s, raw pg x{CONCURRENT_COMMITS} {pg_parallel:.3f}s",
            file=sys.stderr,
        )
    return timings


def build_report(corpus: Corpus, timings: Timings, parameters: dict[str, object]) -> BenchReport:
    chunks = len(corpus.chunks)
    seconds = {
        "faro (chunk+embed+dual write)": median(timings.faro),
        "raw pg COPY": median(timings.raw_pg),
        "raw qdrant upsert": median(timings.raw_qdrant),
        f"raw pg COPY, {CONCURRENT_COMMITS} at once (information)": median(timings.raw_pg_parallel),
    }
    slower_raw = max(seconds["raw pg COPY"], seconds["raw qdrant upsert"])
    rows = [
        Row(
            name,
            {
                "chunks": chunks,
                "median s": value,
                "chunks/s": chunks / value,
                "vs slower raw": slower_raw / value,
            },
        )
        for name, value in seconds.items()
    ]
    # Paired: each run's Faro time against the slower raw store of the same run, then the median.
    runs = zip(timings.faro, timings.raw_pg, timings.raw_qdrant, strict=True)
    ratio = median([max(pg, qd) / faro for faro, pg, qd in runs])
    slower = "postgres" if seconds["raw pg COPY"] >= seconds["raw qdrant upsert"] else "qdrant"
    return BenchReport(
        name="ingest",
        ratio=ratio,
        target=TARGET,
        rows=rows,
        parameters=parameters,
        extra={
            "faro_chunks_per_s": round(chunks / seconds["faro (chunk+embed+dual write)"], 1),
            "slower_raw_store": slower,
            "slower_raw_chunks_per_s": round(chunks / slower_raw, 1),
            "runs_s": {
                "faro": timings.faro,
                "raw_pg": timings.raw_pg,
                "raw_qdrant": timings.raw_qdrant,
                "raw_pg_parallel": timings.raw_pg_parallel,
            },
        },
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_store_bench_args(store_bench_parser("python -m bench.ingest", __doc__), argv)
    embedder = HashingEmbedder()
    corpus = build_corpus(args.chunks, args.chunks_per_doc, embedder)
    parameters = {
        "chunks": len(corpus.chunks),
        "documents": len(corpus.documents),
        "chunk_tokens": BENCH_CHUNKING.size,
        "dimension": embedder.dimension,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "qdrant": args.qdrant,
        "qdrant_engine": args.qdrant_engine,
    }
    with bench_stores(embedder.dimension, args.qdrant, args.qdrant_engine) as stores:
        timings = measure(stores, corpus, args.repeat, args.warmup, args.profile)
    build_report(corpus, timings, parameters).print()


if __name__ == "__main__":
    main()
