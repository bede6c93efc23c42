"""Benchmark: reindex, i.e. fill a new index generation from the documents' kept texts after a model change.

Faro side: a collection holding the corpus (generation 1, hashing model A) gets a new wanted profile
(hashing model B, same chunking); the product's :class:`GenerationController` plans generation 2 and
backfills it — read the kept texts, chunk, embed (through the embedding cache, empty for model B), COPY
into a chunks table without its HNSW index, upsert into a Qdrant collection with indexing off — then builds
the HNSW index and switches Qdrant's indexing on. That load is what is timed; the gate and the cutover
that follow are timed apart, for information.

Baselines, same run, same chunks and vectors:

- raw load: one binary COPY into an index-less chunks table, then ``CREATE INDEX ... USING hnsw``, plus a
  batched upsert of the same points into a fresh Qdrant collection (the two stores one after the other,
  as the backfill loads both).

      ratio = raw load seconds / Faro backfill seconds        (target >= 0.8)

- the embedding alone: a fresh hashing model B over the same chunk texts (what any loader pays before it
  can load; the raw load above starts from vectors already made), reported as
  ``ratio_with_embedding`` = (raw load + embedding seconds) / backfill seconds.

- today's incremental ingest path: the same documents through ``IngestService.ingest_many`` into a fresh
  collection (HNSW index maintained row by row, dual write through the outbox); reported as
  ``vs_ingest`` = ingest seconds / backfill seconds (the issue's aim: >= 3).

Run: ``python -m bench.reindex [--chunks 2000] [--repeat 3]``; ``--quick`` for a smoke run; ``--profile``
prints a pyinstrument profile of the first measured backfill to stderr (its main thread: cutting and
embedding; listing, claiming and reading, the PostgreSQL writes and the Qdrant pushes run in threads of their
own).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from psycopg import sql

from bench.baselines import copy_rows, raw_pg_copy
from bench.corpus import BENCH_CHUNKING, Corpus, build_corpus
from bench.measure import median, timed
from bench.options import parse_store_bench_args, store_bench_parser
from bench.profiling import maybe_profile
from bench.report import BenchReport, Row
from bench.stores import BenchStores, bench_stores
from faro_workloads.contract.generations import GenerationState
from faro_workloads.contract.settings import GenerationsConfig, HnswConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.generation_control import GenerationController
from faro_workloads.core.ingest import IngestService
from faro_workloads.core.outbox import OutboxDrainer

TARGET = 0.8
MODEL_B = "faro-hash-v2"
HNSW_WITH = "WITH (m = {}, ef_construction = {})"


@dataclass(slots=True)
class Timings:
    backfill: list[float]
    gate_and_cutover: list[float]
    raw_load: list[float]
    ingest: list[float]
    embedding: list[float]
    chunks: int = 0


def faro_backfill(
    stores: BenchStores, corpus: Corpus, chunker: Chunker, batch_documents: int, profile: bool = False
) -> tuple[float, float, int]:
    """(backfill seconds, gate + cutover seconds, chunks in generation 2) for one fresh collection."""
    collection = stores.new_collection("faro")
    pg, qdrant = stores.pg_store(collection), stores.qdrant_store(collection)
    model_a = HashingEmbedder(dimension=stores.dimension)
    ingest = IngestService(chunker, model_a, pg, DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant)))
    list(ingest.ingest_many(corpus.documents))  # generation 1, not timed
    controller = GenerationController(pg, qdrant, chunker, model_a, GenerationsConfig())
    controller.reconcile()  # registers generation 1
    model_b = HashingEmbedder(dimension=stores.dimension, model=MODEL_B)
    controller = GenerationController(
        pg, qdrant, chunker, model_b, GenerationsConfig(batch_documents=batch_documents)
    )
    plan = controller.reconcile()  # generation 2, building: tables and collection made, not timed
    backfill = controller.backfill(plan.generation)  # the pass alone, as the step runs it
    target, target_qdrant = pg.for_generation(plan.generation), qdrant.for_generation(plan.generation)

    def load() -> None:
        result = backfill.run_pass()
        if result.unfillable:
            raise RuntimeError(f"documents without a text: {result.unfillable[:3]}")
        target.build_hnsw_index()
        target_qdrant.enable_indexing()

    with maybe_profile(profile):
        seconds = timed(load)
    step = timed(controller.step)
    states = {g.id: g.state for g in pg.generations()}
    if states.get(plan.generation) is not GenerationState.LIVE:
        raise RuntimeError(f"generation {plan.generation} did not go live: {states}")
    chunks = target.count()
    stores.close(qdrant)
    stores.close(pg)
    return seconds, step, chunks


def raw_load(stores: BenchStores, corpus: Corpus) -> float:
    """COPY into an index-less table + CREATE INDEX hnsw, then a batched Qdrant upsert: seconds."""
    collection = stores.new_collection("raw")
    stores.close(stores.pg_store(collection))  # the tables Faro creates ...
    table = stores.chunks_table(collection)
    with stores.connect() as conn:  # ... without the HNSW index
        conn.execute(
            sql.SQL("DROP INDEX {}").format(
                sql.Identifier(
                    table.as_string(conn).split(".")[0].strip('"'), f"{collection.name}_chunks_hnsw"
                )
            )
        )
        conn.commit()
    raw = stores.raw_qdrant(collection)
    rows, batches = copy_rows(corpus.chunks), raw.batches(corpus.chunks)
    hnsw = HnswConfig()

    def load() -> None:
        raw_pg_copy(stores, collection, rows)
        with stores.connect() as conn:
            create = "CREATE INDEX ON {} USING hnsw (embedding vector_cosine_ops) " + HNSW_WITH
            conn.execute(sql.SQL(create).format(table, sql.Literal(hnsw.m), sql.Literal(hnsw.ef_construct)))
            conn.commit()
        raw.upsert(batches)

    seconds = timed(load)
    stores.close(raw)
    return seconds


def incremental_ingest(stores: BenchStores, corpus: Corpus, chunker: Chunker) -> float:
    """Today's path: ``ingest_many`` of the documents into a fresh collection with model B: seconds."""
    collection = stores.new_collection("ingest")
    pg, qdrant = stores.pg_store(collection), stores.qdrant_store(collection)
    model_b = HashingEmbedder(dimension=stores.dimension, model=MODEL_B)
    service = IngestService(chunker, model_b, pg, DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant)))
    seconds = timed(lambda: list(service.ingest_many(corpus.documents)))
    stores.close(qdrant)
    stores.close(pg)
    return seconds


def embedding_alone(corpus: Corpus, dimension: int) -> float:
    """A fresh hashing model B over every chunk text of the corpus: seconds."""
    texts = [chunk.text for chunk in corpus.chunks]
    return timed(lambda: HashingEmbedder(dimension=dimension, model=MODEL_B).embed(texts))


def measure(
    stores: BenchStores, corpus: Corpus, repeat: int, warmup: int, batch_documents: int, profile: bool = False
) -> Timings:
    chunker = Chunker(BENCH_CHUNKING)
    timings = Timings([], [], [], [], [])
    for run in range(warmup + repeat):
        backfill, step, chunks = faro_backfill(
            stores, corpus, chunker, batch_documents, profile=profile and run == warmup
        )
        raw, ingest = raw_load(stores, corpus), incremental_ingest(stores, corpus, chunker)
        embedding = embedding_alone(corpus, stores.dimension)
        if run >= warmup:
            timings.backfill.append(backfill)
            timings.gate_and_cutover.append(step)
            timings.raw_load.append(raw)
            timings.ingest.append(ingest)
            timings.embedding.append(embedding)
            timings.chunks = chunks
        label = f"run {run + 1}/{warmup + repeat}{' (warm-up)' if run < warmup else ''}"
        print(
            f"{label}: backfill {backfill:.3f}s (+ gate and cutover {step:.3f}s), raw load {raw:.3f}s, "
            f"embedding alone {embedding:.3f}s, incremental ingest {ingest:.3f}s",
            file=sys.stderr,
        )
    return timings


def build_report(timings: Timings, parameters: dict[str, object]) -> BenchReport:
    chunks = timings.chunks
    backfill = median(timings.backfill)
    seconds = {
        "faro backfill (texts -> chunks -> embed -> both stores, indexes built)": backfill,
        "raw load (COPY + CREATE INDEX, Qdrant upsert)": median(timings.raw_load),
        "embedding alone (hashing model B, same texts)": median(timings.embedding),
        "incremental ingest (ingest_many)": median(timings.ingest),
        "gate + cutover (information)": median(timings.gate_and_cutover),
    }
    rows = [
        Row(name, {"chunks": chunks, "median s": value, "chunks/s": chunks / value})
        for name, value in seconds.items()
    ]
    ratio = median([raw / faro for faro, raw in zip(timings.backfill, timings.raw_load, strict=True)])
    vs_ingest = median([ingest / faro for faro, ingest in zip(timings.backfill, timings.ingest, strict=True)])
    runs = zip(timings.backfill, timings.raw_load, timings.embedding, strict=True)
    with_embedding = median([(raw + embedding) / faro for faro, raw, embedding in runs])
    return BenchReport(
        name="reindex",
        ratio=ratio,
        target=TARGET,
        rows=rows,
        parameters=parameters,
        extra={
            "vs_ingest": round(vs_ingest, 3),
            "ratio_with_embedding": round(with_embedding, 3),
            "backfill_chunks_per_s": round(chunks / backfill, 1),
            "runs_s": {
                "backfill": timings.backfill,
                "raw_load": timings.raw_load,
                "ingest": timings.ingest,
                "embedding": timings.embedding,
                "gate_and_cutover": timings.gate_and_cutover,
            },
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = store_bench_parser("python -m bench.reindex", __doc__)
    parser.add_argument(
        "--batch-documents",
        type=int,
        default=GenerationsConfig().batch_documents,
        help="Documents the backfill fills per batch (default: the product's, GenerationsConfig).",
    )
    args = parse_store_bench_args(parser, argv)
    corpus = build_corpus(args.chunks, args.chunks_per_doc, HashingEmbedder(model=MODEL_B))
    parameters = {
        "chunks": len(corpus.chunks),
        "documents": len(corpus.documents),
        "chunk_tokens": BENCH_CHUNKING.size,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "batch_documents": args.batch_documents,
        "qdrant": args.qdrant,
        "qdrant_engine": args.qdrant_engine,
    }
    with bench_stores(qdrant=args.qdrant, engine=args.qdrant_engine) as stores:
        timings = measure(stores, corpus, args.repeat, args.warmup, args.batch_documents, args.profile)
    build_report(timings, parameters).print()


if __name__ == "__main__":
    main()
