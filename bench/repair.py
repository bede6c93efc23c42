"""Benchmark 4, repair: rebuild a wiped Qdrant from PostgreSQL vs a raw batched upsert of the same points.

Set-up (not timed): the corpus's chunks are loaded into PostgreSQL with the product's ``bulk_load``. Each
run, Faro's :func:`repair_qdrant` rebuilds the collection in a fresh, empty Qdrant local-mode folder (the
"wiped" Qdrant: the collection is recreated and every chunk is read back from Postgres and upserted).
Baseline, same run: ``qdrant_client.upsert`` of the same points, batches built in memory beforehand, into
another fresh folder.

    ratio = raw upsert seconds / Faro repair seconds, per run; median of runs      (target >= 0.8)

Run: ``python -m bench.repair [--chunks 2000] [--repeat 3]``; ``--quick`` for a smoke run; ``--profile``
prints a pyinstrument profile of one repair to stderr.
"""

from __future__ import annotations

import sys

from bench.baselines import timed_raw_qdrant_upsert
from bench.corpus import Corpus, build_corpus
from bench.measure import median, settle_heap, timed
from bench.options import parse_store_bench_args, store_bench_parser
from bench.profiling import maybe_profile
from bench.report import BenchReport, Row
from bench.stores import BenchStores, bench_stores
from faro_workloads.contract.settings import QdrantConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

TARGET = 0.8


def faro_repair(stores: BenchStores, pg: PgVectorStore, expected: int, profile: bool) -> float:
    """Seconds for Faro to rebuild the collection in an empty Qdrant (checked complete afterwards)."""
    qdrant = QdrantStore(QdrantConfig(path=stores.qdrant_path(stores.new_collection("wiped"))), pg.collection)
    try:
        with maybe_profile(profile):
            seconds = timed(lambda: repair_qdrant(pg, qdrant))
        if qdrant.count() != expected:
            raise RuntimeError(f"repair incomplete: qdrant holds {qdrant.count()} of {expected} points")
    finally:
        qdrant.close()
    return seconds


def raw_upsert(stores: BenchStores, corpus: Corpus) -> float:
    return timed_raw_qdrant_upsert(stores, corpus.chunks)


def measure(
    stores: BenchStores, corpus: Corpus, repeat: int, warmup: int, profile: bool
) -> tuple[list[float], list[float]]:
    pg = stores.pg_store(stores.new_collection("source"))
    pg.bulk_load(corpus.chunks)
    settle_heap()
    faro_runs: list[float] = []
    raw_runs: list[float] = []
    for run in range(warmup + repeat):
        faro = faro_repair(stores, pg, len(corpus.chunks), profile=profile and run == warmup)
        raw = raw_upsert(stores, corpus)
        if run >= warmup:
            faro_runs.append(faro)
            raw_runs.append(raw)
        print(
            f"run {run + 1}/{warmup + repeat}{' (warm-up)' if run < warmup else ''}: "
            f"faro repair {faro:.3f}s, raw upsert {raw:.3f}s",
            file=sys.stderr,
        )
    return faro_runs, raw_runs


def build_report(
    corpus: Corpus, faro_runs: list[float], raw_runs: list[float], parameters: dict[str, object]
) -> BenchReport:
    points = len(corpus.chunks)
    faro, raw = median(faro_runs), median(raw_runs)
    rows = [
        Row(
            "faro repair (pg -> empty qdrant)",
            {"points": points, "median s": faro, "points/s": points / faro},
        ),
        Row("raw qdrant upsert", {"points": points, "median s": raw, "points/s": points / raw}),
    ]
    return BenchReport(
        name="repair",
        ratio=median([r / f for f, r in zip(faro_runs, raw_runs, strict=True)]),  # paired, per run
        target=TARGET,
        rows=rows,
        parameters=parameters,
        extra={"runs_s": {"faro": faro_runs, "raw": raw_runs}},
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_store_bench_args(store_bench_parser("python -m bench.repair", __doc__), argv)
    embedder = HashingEmbedder()
    corpus = build_corpus(args.chunks, args.chunks_per_doc, embedder)
    parameters = {
        "points": len(corpus.chunks),
        "dimension": embedder.dimension,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "qdrant": args.qdrant,
        "qdrant_engine": args.qdrant_engine,
    }
    with bench_stores(embedder.dimension, args.qdrant, args.qdrant_engine) as stores:
        faro_runs, raw_runs = measure(stores, corpus, args.repeat, args.warmup, args.profile)
    build_report(corpus, faro_runs, raw_runs, parameters).print()


if __name__ == "__main__":
    main()
