"""Qdrant local mode after many deletes: filtered search on a churned collection vs a fresh one.

This measures qdrant-client's Python local mode (``local_engine: python``), whose deleted points stay in
memory until Faro's compaction rebuilds the collection. Qdrant Edge, local mode's default engine, vacuums
deleted points with Qdrant's own optimizer (run after deletes) and has no such compaction.

Set-up (not timed): a few live documents (about 24 points, 384-d), then ``--cycles`` churn cycles through
:class:`QdrantStore`, the way ingest writes: a new document of ``--transient-chunks`` chunks is upserted and
deleted by its doc_id, and one live document is replaced (deleted by doc_id, upserted again). Measured, same
run: a filtered search (doc_id filter, k=5) on

- ``churned``: the churned store as Faro runs it (compaction on, default policy);
- ``fresh``: a new store holding only the same live points (the baseline);
- ``no compaction``: the same churn with compaction switched off (information: the behaviour before it).

    ratio = churned median seconds per search / fresh median seconds per search        (target <= 1.5)

Run: ``python -m bench.qdrant_local_churn [--cycles 100] [--transient-chunks 100] [--queries 50]
[--qdrant memory|disk]``; ``--quick`` for a smoke run. On disk, qdrant-client commits SQLite once per point,
so the churn itself takes minutes; use fewer cycles there.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.report import BenchReport, Row
from faro_workloads.contract.settings import CollectionConfig, QdrantConfig
from faro_workloads.core.documents import Chunk
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.core.stores.qdrant_compaction import CompactionPolicy

TARGET = 1.5
DIMENSION = 384
LIVE_CHUNKS = (7, 8, 9)  # three live documents, 24 points
NO_COMPACTION = CompactionPolicy(min_deleted=sys.maxsize)


def document(doc_id: str, count: int, version: int) -> list[Chunk]:
    """``count`` chunks of ``doc_id`` (seeded random vectors; ``version`` changes vectors and text)."""
    rng = np.random.default_rng([zlib.crc32(doc_id.encode()), version])
    vectors = rng.standard_normal((count, DIMENSION)).astype(np.float32)
    chunks = []
    for seq in range(count):
        text = f"{doc_id} chunk {seq} version {version}: " + "lorem ipsum dolor sit amet " * 30
        chunks.append(
            Chunk(
                doc_id=doc_id,
                seq=seq,
                text=text,
                start=0,
                end=len(text),
                metadata={"version": version},
                content_hash=f"{doc_id}-{version}",
                model="bench",
                embedding=vectors[seq],
            )
        )
    return chunks


def live_documents(cycles: int) -> dict[str, list[Chunk]]:
    """The live documents after ``cycles`` churn cycles (cycle c replaces document ``c % 3``)."""
    latest = {d: 0 for d in range(len(LIVE_CHUNKS))}
    for cycle in range(1, cycles + 1):
        latest[cycle % len(LIVE_CHUNKS)] = cycle
    return {f"live-{d}": document(f"live-{d}", LIVE_CHUNKS[d], latest[d]) for d in latest}


def churn(store: QdrantStore, cycles: int, transient_chunks: int) -> None:
    for d, count in enumerate(LIVE_CHUNKS):
        store.upsert(document(f"live-{d}", count, 0))
    for cycle in range(1, cycles + 1):
        store.upsert(document(f"transient-{cycle}", transient_chunks, cycle))
        store.delete_document(f"transient-{cycle}")
        d = cycle % len(LIVE_CHUNKS)
        store.delete_document(f"live-{d}")
        store.upsert(document(f"live-{d}", LIVE_CHUNKS[d], cycle))
        if cycle % 50 == 0:
            print(f"  cycle {cycle}/{cycles}", file=sys.stderr, flush=True)


def search_seconds(store: QdrantStore, queries: np.ndarray) -> tuple[float, list[list[str]]]:
    """Median seconds per filtered search, and the ids each query found."""
    flt = SearchFilter(doc_ids=["live-0", "live-1"])
    times, found = [], []
    for query in queries:
        start = time.perf_counter()
        hits = store.search(query, 5, flt)
        times.append(time.perf_counter() - start)
        found.append([str(hit.id) for hit in hits])
    return statistics.median(times), found


def figures(store: QdrantStore, seconds: float) -> dict[str, float | int | str]:
    garbage = store.local_garbage()
    assert garbage is not None
    return {
        "ms per search": round(seconds * 1000, 3),
        "points": store.count(),
        "slots": garbage.slots,
        "deleted slots": garbage.deleted,
        "storage MB": round(garbage.storage_bytes / 1e6, 3),
    }


@contextmanager
def temp_folder() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="faro-bench-churn-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace) -> BenchReport:
    queries = np.random.default_rng(7).standard_normal((args.queries, DIMENSION)).astype(np.float32)
    rows: list[Row] = []
    results: dict[str, list[list[str]]] = {}
    seconds: dict[str, float] = {}
    with temp_folder() as root:
        collection = CollectionConfig(name="churn", dimension=DIMENSION)
        for name, policy, cycles in (
            ("churned", None, args.cycles),
            ("fresh", None, 0),
            ("no compaction", NO_COMPACTION, args.cycles),
        ):
            path = ":memory:" if args.qdrant == "memory" else str(root / name.replace(" ", "_"))
            config = QdrantConfig(path=path, local_engine="python")
            store = QdrantStore(config, collection, compaction=policy)
            try:
                store.ensure_collection()
                print(f"{name}: {cycles} churn cycles", file=sys.stderr, flush=True)
                if cycles:
                    churn(store, cycles, args.transient_chunks)
                else:  # the same live points, written once
                    store.upsert([c for chunks in live_documents(args.cycles).values() for c in chunks])
                seconds[name], results[name] = search_seconds(store, queries)
                rows.append(Row(name, figures(store, seconds[name])))
            finally:
                store.close()
    if results["churned"] != results["fresh"] or results["no compaction"] != results["fresh"]:
        raise RuntimeError("the churned collections answer differently from the fresh one")
    return BenchReport(
        name="qdrant_local_churn",
        ratio=seconds["churned"] / seconds["fresh"],
        target=TARGET,
        rows=rows,
        parameters=vars(args),
        extra={"ratio_without_compaction": round(seconds["no compaction"] / seconds["fresh"], 2)},
        higher_is_better=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.qdrant_local_churn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=100, help="Churn cycles.")
    parser.add_argument("--transient-chunks", type=int, default=100, help="Chunks of each deleted document.")
    parser.add_argument("--queries", type=int, default=50, help="Filtered searches measured per store.")
    parser.add_argument("--qdrant", choices=["memory", "disk"], default="memory", help="Local mode location.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 20 cycles, 10 queries.")
    args = parser.parse_args(argv)
    if args.quick:
        args.cycles, args.queries = 20, 10
    run(args).print()


if __name__ == "__main__":
    main()
