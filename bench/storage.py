"""Benchmark: PostgreSQL storage per chunk, the figure docs/capacity.md multiplies to 1M and 10M chunks.

Set-up: the bench corpus (synthetic English-like documents, ~256-token chunks) ingested by the product's
:class:`IngestService` (with its embedding cache, as the services run it) into fresh collections, once per
vector dimension (``--dimensions``, 384 and 1536 by default: MiniLM-sized and OpenAI-sized); vectors from a
digest model (no CPU spent on a model). Then PostgreSQL's own sizes (``pg_relation_size`` of each table, its
TOAST and each index, after VACUUM) divided by the chunk count.

    ratio = bytes per chunk on disk / raw bytes per chunk (float32 vector + chunk text), largest dimension

The ratio is the storage overhead (row headers, the HNSW graph, the lexical terms, the documents' kept text,
the embedding cache); no target: it is a figure to plan with.

Run: ``python -m bench.storage [--chunks 2000] [--dimensions 384,1536]``; ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from psycopg import sql

from bench.corpus import BENCH_CHUNKING, make_documents
from bench.report import BenchReport, Row
from bench.stores import BENCH_SCHEMA, bench_stores
from faro_workloads.contract.settings import CollectionConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.cached import CachedEmbedder
from faro_workloads.core.ingest import IngestService
from faro_workloads.core.outbox import OutboxDrainer

from support.model_servers import DigestModel

# Which table (by its name's suffix after the collection's name) is counted under which heading.
_PARTS = {
    "chunks": "chunk rows (heap + TOAST)",
    "documents": "documents",
    "texts": "kept document text",
    "embedding_cache": "embedding cache",
}

OTHER = "other tables and indexes (outbox, marks, generations, ...)"

_SIZES = """
SELECT c.relname, c.relkind, pg_relation_size(c.oid) + COALESCE(pg_relation_size(c.reltoastrelid), 0),
       COALESCE(i.indrelid::regclass::text, '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = c.oid
WHERE n.nspname = %s AND c.relname LIKE %s AND c.relkind IN ('r', 'i')
"""


def measure(dimension: int, chunks: int) -> tuple[int, dict[str, int], float]:
    """(chunks stored, bytes by heading, mean chunk text bytes) for the corpus at ``dimension``."""
    with bench_stores(dimension=dimension) as stores:
        collection = CollectionConfig(name=f"storage_{dimension}", dimension=dimension)
        pg, qdrant = stores.pg_store(collection), stores.qdrant_store(collection)
        model = DigestModel(f"digest-{dimension}", dimension, batch_size=256)
        writer = DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant))
        service = IngestService(Chunker(BENCH_CHUNKING), CachedEmbedder(model, pg), pg, writer)
        list(service.ingest_many(make_documents(chunks, chunks_per_doc=8)))
        stored = pg.count()
        with stores.connect() as conn:
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            text_bytes = conn.execute(
                sql.SQL("SELECT avg(octet_length(text)) FROM {}").format(stores.chunks_table(collection))
            ).fetchone()[0]
            rows = conn.execute(_SIZES, (BENCH_SCHEMA, f"{collection.name}%")).fetchall()
        stores.close(qdrant)
        stores.close(pg)
    sizes: dict[str, int] = defaultdict(int)
    for name, kind, size, table in rows:
        sizes[_heading(collection.name, name, kind, table)] += size
    return stored, dict(sizes), float(text_bytes)


def _heading(collection: str, name: str, kind: str, table: str) -> str:
    if kind == "i":
        owner = table.rsplit(".", 1)[-1].strip('"')
        if "hnsw" in name:
            return "HNSW index"
        if "lexical" in name or "terms" in name:
            return "lexical (BM25) indexes"
        owner = owner.removeprefix(collection + "_")
        return "other indexes of the chunks" if owner.startswith("chunks") else OTHER
    suffix = name.removeprefix(collection + "_")
    if suffix.startswith("chunks"):
        suffix = "chunks"
    return _PARTS.get(suffix, OTHER)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.storage", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=2000, help="About this many chunks per dimension.")
    parser.add_argument("--dimensions", default="384,1536", help="Vector dimensions to measure.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 200 chunks.")
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks = 200
    dimensions = [int(d) for d in args.dimensions.split(",")]
    per_chunk: dict[str, dict[str, float | int | str]] = defaultdict(dict)
    ratio, extra = 0.0, {}
    for dimension in dimensions:
        stored, sizes, text_bytes = measure(dimension, args.chunks)
        column = f"{dimension}-d bytes/chunk"
        for heading, size in sizes.items():
            per_chunk[heading][column] = round(size / stored)
        total = sum(sizes.values()) / stored
        raw = dimension * 4 + text_bytes
        per_chunk["total"][column] = round(total)
        per_chunk["raw: float32 vector + chunk text"][column] = round(raw)
        ratio = total / raw
        extra[f"bytes_per_chunk_{dimension}"] = round(total)
        extra[f"chunks_{dimension}"] = stored
    order = sorted(per_chunk, key=lambda h: (h in ("total", "raw: float32 vector + chunk text"), h))
    rows = [Row(heading, per_chunk[heading]) for heading in order]
    BenchReport(
        name="storage",
        ratio=ratio,
        target=None,
        rows=rows,
        parameters={"chunks": args.chunks, "dimensions": dimensions},
        extra=extra,
    ).print()


if __name__ == "__main__":
    main()
