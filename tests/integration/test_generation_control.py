"""The generation controller on the real stores: a model change builds a new generation and cuts over
only when it passes the gate; the previous one is kept for a rollback that embeds nothing; retention drops
the oldest; a failed gate blocks the cutover with its reason and numbers; Manual waits for approval."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from faro_workloads.contract.generations import CutoverBlock, GenerationState
from faro_workloads.contract.settings import ChunkingConfig, GenerationsConfig
from faro_workloads.core import generation_control
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.generation_control import GenerationController, StepReport
from faro_workloads.core.generation_plan import Action
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.data_plane import IngestPath

from support.handbook import RecordingEmbedder, UnrelatedEmbedder

pytestmark = pytest.mark.integration

DIMENSION = 32
CHUNKING = ChunkingConfig(strategy="recursive", tokenizer="chars", size=32, overlap=0)
LIVE, BUILDING, RETIRED = GenerationState.LIVE, GenerationState.BUILDING, GenerationState.RETIRED


@dataclass
class Stores:
    pg: PgVectorStore
    qdrant: QdrantStore

    def controller(self, model: RecordingEmbedder, **config: object) -> GenerationController:
        return GenerationController(
            self.pg, self.qdrant, Chunker(CHUNKING), model, GenerationsConfig(**config)
        )

    def states(self) -> dict[int, GenerationState]:
        return {g.id: g.state for g in self.pg.generations()}

    def models(self, generation: int) -> set[str]:
        store = self.pg.for_generation(generation)
        return {chunk.model for chunks in store.iter_chunks() for chunk in chunks}


@pytest.fixture
def stores(pg_store_factory, qdrant_store_factory) -> Iterator[Stores]:
    pg = pg_store_factory(dimension=DIMENSION)
    qdrant = qdrant_store_factory(pg.collection)
    path = IngestPath(pg, qdrant, RecordingEmbedder(DIMENSION), CHUNKING)
    for n in range(15):
        text = f"Document {n}. " + " ".join(f"term{n}w{i}" for i in range(30))
        path.ingest.ingest(IncomingDocument(f"doc-{n:02d}", text, "test"))
    path.drainer.drain()
    yield Stores(pg, qdrant)
    path.close()


def test_a_model_change_builds_cuts_over_and_rolls_back_without_embedding(stores: Stores) -> None:
    model_a, model_b = RecordingEmbedder(DIMENSION), RecordingEmbedder(DIMENSION, model="faro-hash-v2")
    controller_a = stores.controller(model_a)
    first = controller_a.step()
    assert first.plan.action is Action.INITIALIZE and stores.states() == {1: LIVE}
    assert first.backfill is not None and first.backfill.filled == 0  # generation 1 already holds them all
    again = controller_a.step()
    assert (again.plan.action, again.target, again.backfill) == (Action.KEEP, None, None)  # checked once

    report = stores.controller(model_b).step()

    assert report.plan.action is Action.BUILD and report.promoted == 2 and report.blocked is None
    assert stores.states() == {1: RETIRED, 2: LIVE}
    assert stores.models(2) == {"faro-hash-v2"} and stores.models(1) == {"faro-hash-v1"}
    assert stores.qdrant.for_generation(2).count() == stores.pg.for_generation(2).count()
    assert stores.qdrant.live_alias_target() == stores.qdrant.for_generation(2).name
    record = stores.pg.get_document("doc-03")
    assert record is not None and record.profile == stores.controller(model_b).wanted.fingerprint

    model_a.sent.clear()
    back = stores.controller(model_a).step()

    assert back.plan.action is Action.ROLLBACK and stores.states() == {1: LIVE, 2: RETIRED}
    assert model_a.sent == [] and back.backfill is not None and back.backfill.filled == 0
    assert stores.qdrant.live_alias_target() == stores.qdrant.for_generation(1).name


def test_retention_drops_the_oldest_retired_generation_from_both_stores(stores: Stores) -> None:
    stores.controller(RecordingEmbedder(DIMENSION)).step()
    stores.controller(RecordingEmbedder(DIMENSION, model="faro-hash-v2")).step()
    third = stores.controller(RecordingEmbedder(DIMENSION, model="faro-hash-v3"), retain=1).step()

    assert third.promoted == 3 and third.dropped == [1]
    assert stores.states() == {2: RETIRED, 3: LIVE}
    assert not stores.qdrant.for_generation(1).exists()


def test_a_gate_that_fails_blocks_the_cutover_and_the_live_generation_keeps_serving(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores.controller(RecordingEmbedder(DIMENSION)).step()
    model_b = RecordingEmbedder(DIMENSION, model="faro-hash-v2")
    checks: list[int] = []
    counted = generation_control.check_consistency
    monkeypatch.setattr(
        generation_control, "check_consistency", lambda *a, **k: checks.append(1) or counted(*a, **k)
    )
    manual = stores.controller(model_b, cutover="Manual")
    blocked = manual.step()
    assert blocked.blocked is not None and blocked.blocked.reason is CutoverBlock.AWAITING_APPROVAL
    waiting = manual.step()  # nothing changed since it passed: the gate is not run again
    assert waiting.blocked is not None and waiting.blocked.reason is CutoverBlock.AWAITING_APPROVAL
    assert len(checks) == 1
    assert stores.states() == {1: LIVE, 2: BUILDING}
    recorded = next(g for g in stores.pg.generations() if g.id == 2)  # for the operator's condition
    assert recorded.blocked_reason is CutoverBlock.AWAITING_APPROVAL and "approve it" in (
        recorded.blocked_message or ""
    )

    stray = next(iter(stores.qdrant.for_generation(2).scroll_ids()))[:3]
    stores.qdrant.for_generation(2).delete(stray)  # Qdrant loses points behind Faro's back
    disagree = stores.controller(model_b).step()
    assert disagree.blocked is not None and disagree.blocked.reason is CutoverBlock.STORES_DISAGREE
    assert "3 points missing from Qdrant" in disagree.blocked.message
    assert stores.states() == {1: LIVE, 2: BUILDING}

    controller = stores.controller(model_b, cutover="Manual")
    controller.approve(2)
    repair_qdrant(stores.pg.for_generation(2), stores.qdrant.for_generation(2))
    assert controller.step().promoted == 2
    assert next(g for g in stores.pg.generations() if g.id == 2).blocked_reason is None


def golden_file(path: Path, documents: range) -> Path:
    """Golden queries: two words of document n's body should find document n."""
    queries = [{"query": f"term{n}w12 term{n}w13", "docIds": [f"doc-{n:02d}"]} for n in documents]
    path.write_text(yaml.safe_dump({"queries": queries}))
    return path


def worse_model_blocked(stores: Stores, golden: Path) -> tuple[UnrelatedEmbedder, StepReport, dict]:
    """Generation 1 live, then a step with a worse model and the golden queries at k=3: refused, with the
    new and the live generation's recall@3."""
    stores.controller(RecordingEmbedder(DIMENSION)).step()
    worse = UnrelatedEmbedder(DIMENSION, model="faro-unrelated")
    report = stores.controller(worse, golden_queries=golden, recall_k=3).step()
    assert report.blocked is not None and report.blocked.reason is CutoverBlock.RECALL_DROPPED
    return worse, report, stores_scores(report.blocked.message)


def test_a_blocked_gate_names_the_expected_ids_no_document_has(stores: Stores, tmp_path: Path) -> None:
    golden = golden_file(tmp_path / "golden.yaml", range(15))
    queries = yaml.safe_load(golden.read_text())["queries"]
    queries.append({"query": "term3w12 term3w13", "docIds": ["doc-3", "doc-03"]})  # a typo beside the id
    golden.write_text(yaml.safe_dump({"queries": queries}))

    _, blocked, _ = worse_model_blocked(stores, golden)

    assert blocked.blocked is not None
    assert "1 expected document id(s) match no document and score as misses: doc-3" in blocked.blocked.message


def test_the_golden_queries_block_a_worse_model_until_approved_or_allowed(
    stores: Stores, tmp_path: Path
) -> None:
    golden = golden_file(tmp_path / "golden.yaml", range(15))

    _, blocked, scores = worse_model_blocked(stores, golden)

    assert scores["new"] < scores["live"] - 0.05 and "on live generation 1" in str(blocked.blocked)
    assert stores.states() == {1: LIVE, 2: BUILDING}
    recorded = next(g for g in stores.pg.generations() if g.id == 2)
    assert recorded.blocked_reason is CutoverBlock.RECALL_DROPPED

    # A better model passes the same gate (the abandoned building generation is dropped first).
    better = stores.controller(
        RecordingEmbedder(DIMENSION, model="faro-hash-v2"), golden_queries=golden, recall_k=3
    )
    report = better.step()
    assert report.promoted == 3 and report.blocked is None
    assert better.last_scores["building"].recall >= better.last_scores["live"].recall - 0.05
    assert better.last_scores["live"].recall == pytest.approx(scores["live"], abs=0.001)


def test_an_approval_or_a_wider_allowance_lets_a_worse_generation_through(
    stores: Stores, tmp_path: Path
) -> None:
    golden = golden_file(tmp_path / "golden.yaml", range(15))
    worse, _, scores = worse_model_blocked(stores, golden)
    drop = scores["live"] - scores["new"]

    allowed = stores.controller(worse, golden_queries=golden, recall_k=3, max_recall_drop=drop + 0.01)
    assert allowed.step().promoted == 2

    stores.controller(RecordingEmbedder(DIMENSION)).step()  # roll back to generation 1
    assert stores.states()[1] is LIVE
    worse_again = UnrelatedEmbedder(DIMENSION, model="faro-unrelated-2")
    gate = stores.controller(worse_again, golden_queries=golden, recall_k=3)
    assert gate.step().blocked is not None
    gate.approve(3)
    assert gate.step().promoted == 3


def test_an_unreadable_golden_file_blocks_with_its_reason(stores: Stores, tmp_path: Path) -> None:
    stores.controller(RecordingEmbedder(DIMENSION)).step()
    broken = tmp_path / "golden.yaml"
    broken.write_text("queries:\n  - query: where is it\n")  # no docIds
    model_b = RecordingEmbedder(DIMENSION, model="faro-hash-v2")

    report = stores.controller(model_b, golden_queries=broken).step()

    assert report.blocked is not None and report.blocked.reason is CutoverBlock.GOLDEN_QUERIES_INVALID
    assert "queries.0.docIds: Field required" in report.blocked.message
    assert stores.states() == {1: LIVE, 2: BUILDING}
    golden_file(broken, range(15))  # fixed: the next step cuts over
    assert stores.controller(model_b, golden_queries=broken).step().promoted == 2


def stores_scores(message: str) -> dict[str, float]:
    """The recall@3 of the new and of the live generation, read from a RecallDropped message."""
    words = message.split("recall@3 ")[1].split()
    return {"new": float(words[0]), "live": float(words[2])}


class SlowEmbedder(RecordingEmbedder):
    """The hashing model, answering each batch after a pause (as a remote model does); with a ``barrier``,
    its first batch waits there (for the other replicas' first batches: each holds a share)."""

    def __init__(self, dimension: int, model: str, barrier: threading.Barrier | None = None) -> None:
        super().__init__(dimension, model)
        self._barrier = barrier

    def _embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        if self._barrier is not None:
            self._barrier.wait(timeout=60)
            self._barrier = None
        time.sleep(0.05)
        return super()._embed_batch(texts)


def test_replicas_share_one_backfill_and_no_chunk_is_embedded_twice(stores: Stores) -> None:
    stores.controller(RecordingEmbedder(DIMENSION)).step()
    both = threading.Barrier(2)
    leader_model = SlowEmbedder(DIMENSION, model="faro-hash-v2", barrier=both)
    helper_model = SlowEmbedder(DIMENSION, model="faro-hash-v2", barrier=both)
    leader = stores.controller(leader_model, batch_documents=2)
    helper = stores.controller(helper_model, batch_documents=2)
    assert stores.controller(SlowEmbedder(DIMENSION, model="other")).assist() is None  # nothing builds
    leader.reconcile()
    assert stores.controller(SlowEmbedder(DIMENSION, model="other")).assist() is None  # not its profile

    outcomes: dict[str, object] = {}
    threads = [
        threading.Thread(target=lambda: outcomes.update(leader=leader.step())),
        threading.Thread(target=lambda: outcomes.update(helper=helper.assist())),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert leader_model.sent and helper_model.sent  # both did a share
    chunks = stores.pg.for_generation(2).count()
    assert len(leader_model.sent) + len(helper_model.sent) == chunks  # each chunk embedded once, in all
    assert set(leader_model.sent).isdisjoint(helper_model.sent)
    final = leader.step() if stores.states()[2] is BUILDING else outcomes["leader"]
    assert stores.states() == {1: RETIRED, 2: LIVE}, final
    assert stores.models(2) == {"faro-hash-v2"}


def test_documents_written_while_the_gate_runs_are_filled_before_the_switch(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores.controller(RecordingEmbedder(DIMENSION)).step()
    writer = IngestPath(stores.pg, stores.qdrant, RecordingEmbedder(DIMENSION), CHUNKING)  # ingest, live 1
    checked = generation_control.check_consistency
    written: list[str] = []

    def upload_then_check(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not written:  # an upload lands while the gate checks the new generation's stores
            writer.ingest.ingest(IncomingDocument("doc-late", "Document late. " + "late " * 30, "test"))
            writer.drainer.drain()
            written.append("doc-late")
        return checked(*args, **kwargs)

    monkeypatch.setattr(generation_control, "check_consistency", upload_then_check)
    try:
        report = stores.controller(RecordingEmbedder(DIMENSION, model="faro-hash-v2")).step()
    finally:
        writer.close()

    assert written and report.promoted == 2 and report.blocked is None
    late = stores.pg.for_generation(2).document_spans(["doc-late"])
    assert "doc-late" in late and stores.models(2) == {"faro-hash-v2"}
    assert stores.qdrant.for_generation(2).count() == stores.pg.for_generation(2).count()
