"""A model change end to end on the real stores, as a restarted service runs it: the new process serves the
live generation (model A) while it builds generation 2 (model B), every query answers from one model only —
A before the cutover, B after, never a mix — and the uploads, replaces and deletes made during the backfill
are all in generation 2 at the cutover."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.generations import GenerationState
from faro_workloads.contract.settings import ChunkingConfig, GenerationsConfig
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.retrieval import Backend
from faro_workloads.data_plane import DataPlane

from support.handbook import RecordingEmbedder

pytestmark = pytest.mark.integration

DIMENSION = 32
CHUNKING = ChunkingConfig(strategy="recursive", tokenizer="chars", size=32, overlap=0)
GENERATIONS = GenerationsConfig(batch_documents=4)


def text(n: int, version: int = 1) -> str:
    return f"Document {n} version {version} about topic{n % 5}. " + " ".join(
        f"term{n}w{i}" for i in range(30)
    )


def test_queries_answer_from_one_model_across_a_cutover_and_writes_during_the_backfill_land(
    pg_store_factory, qdrant_store_factory
) -> None:
    pg = pg_store_factory(dimension=DIMENSION)
    qdrant = qdrant_store_factory(pg.collection)
    model_a = RecordingEmbedder(DIMENSION)
    before = DataPlane(pg, qdrant, model_a, CHUNKING, generations=GENERATIONS)
    before.ingest_path.worker.controller.reconcile()  # type: ignore[union-attr]
    for n in range(40):
        before.ingest.ingest(IncomingDocument(f"doc-{n:02d}", text(n), "test"))
    before.ingest_path.drain()
    before.close()

    model_b = RecordingEmbedder(DIMENSION, model="faro-hash-v2")
    after = DataPlane(pg, qdrant, model_b, CHUNKING, generations=GENERATIONS)  # restarted with model B
    worker = after.ingest_path.worker
    assert worker is not None
    worker.controller.reconcile()
    assert {g.id: g.state for g in pg.generations()} == {1: GenerationState.LIVE, 2: GenerationState.BUILDING}
    app = TestClient(after.api())
    first = app.post("/v1/query", json={"query": "topic3 term13w4", "top_k": 5}).json()
    assert first["generation"] == 1 and {hit["model"] for hit in first["hits"]} == {"faro-hash-v1"}

    answers: list[tuple[int, set[str]]] = []
    stop = threading.Event()

    def ask() -> None:
        while not stop.is_set():
            result = after.retriever.query("topic2 term7w3", 5, None, Backend.AUTO)
            answers.append((result.generation or 0, {hit.model for hit in result.hits}))

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        after.ingest.ingest(IncomingDocument("doc-03", text(3, version=2), "test"))  # replaced meanwhile
        after.ingest.delete("doc-04")  # deleted meanwhile
        after.ingest.ingest(IncomingDocument("doc-new", text(99), "test"))  # created meanwhile
        report = worker.run_once()
        while report is not None and report.promoted is None:
            assert report.blocked is None or report.blocked.reason == "BackfillIncomplete", report.blocked
            report = worker.run_once()
        assert report is not None and report.promoted == 2
        time.sleep(2.5)  # a poll interval: every query now reads generation 2
    finally:
        stop.set()
        asker.join()

    assert answers and all(len(models) == 1 for _, models in answers)  # never a mix
    assert {(generation, frozenset(models)) for generation, models in answers} <= {
        (1, frozenset({"faro-hash-v1"})),
        (2, frozenset({"faro-hash-v2"})),
    }
    assert answers[-1] == (2, {"faro-hash-v2"})
    new = after.pg.for_generation(2)
    held = {chunk.doc_id: chunk for chunks in new.iter_chunks() for chunk in chunks}
    assert "doc-04" not in held and "doc-new" in held
    assert held["doc-03"].content_hash == pg.get_document("doc-03").content_hash  # type: ignore[union-attr]
    assert new.completeness() == (40, 0, 0)
    final = app.post("/v1/query", json={"query": "topic3 term13w4", "top_k": 5}).json()
    assert final["generation"] == 2 and {hit["model"] for hit in final["hits"]} == {"faro-hash-v2"}
    after.close()
