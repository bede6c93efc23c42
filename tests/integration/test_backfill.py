"""Backfill into a building generation on the real stores: it fills every document from its kept text with
the new model, sees uploads, replaces and deletes made meanwhile, re-embeds what has no kept text from the
live chunks when only the model changed, and reports what it cannot fill."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from faro_workloads.contract.generations import GenerationState
from faro_workloads.contract.index_profile import IndexProfile
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.backfill import Backfill
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import CONTEXT_KEY, embedded_text
from faro_workloads.core.embedding.cached import CachedEmbedder
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.outbox import OutboxApplyError
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.data_plane import DataPlane

from support.handbook import RecordingEmbedder

pytestmark = pytest.mark.integration

DIMENSION = 32
CHUNKING = ChunkingConfig(strategy="recursive", tokenizer="chars", size=32, overlap=0)


def text(n: int, version: int = 1) -> str:
    return f"Document {n}, version {version}. " + " ".join(f"word{n}x{i}" for i in range(40)) + "."


@dataclass
class Collection:
    plane: DataPlane
    pg: PgVectorStore
    qdrant: QdrantStore
    building: PgVectorStore
    building_qdrant: QdrantStore
    model_b: RecordingEmbedder

    def backfill(self, chunking: ChunkingConfig = CHUNKING, batch_documents: int = 32) -> Backfill:
        return Backfill(
            self.building,
            self.building_qdrant,
            self.pg,
            self.pg,
            Chunker(chunking),
            CachedEmbedder(self.model_b, self.pg),
            live=self.pg if chunking == CHUNKING else None,
            batch_documents=batch_documents,
        )

    def ingest(self, n: int, version: int = 1) -> None:
        self.plane.ingest.ingest(IncomingDocument(f"doc-{n:02d}", text(n, version), "test"))

    def building_models(self) -> set[str]:
        return {chunk.model for chunks in self.building.iter_chunks() for chunk in chunks}


@pytest.fixture
def collection(pg_store_factory, qdrant_store_factory) -> Iterator[Collection]:
    pg = pg_store_factory(dimension=DIMENSION)
    qdrant = qdrant_store_factory(pg.collection)
    plane = DataPlane(pg, qdrant, RecordingEmbedder(DIMENSION), CHUNKING)
    profile_a = plane.ingest.profile
    pg.register_generation(profile_a, GenerationState.LIVE, at=1)
    model_b = RecordingEmbedder(DIMENSION, model="faro-hash-v2")
    profile_b = IndexProfile(embedding=model_b.identity, chunking=profile_a.chunking)
    pg.register_generation(profile_b, GenerationState.BUILDING)
    building, building_qdrant = pg.for_generation(2), qdrant.for_generation(2)
    building.ensure_chunks_table(with_hnsw=False)
    building_qdrant.ensure_collection(defer_indexing=True)
    yield Collection(plane, pg, qdrant, building, building_qdrant, model_b)
    plane.close()


def test_a_pass_fills_every_document_with_the_new_model_in_both_stores(collection: Collection) -> None:
    for n in range(12):
        collection.ingest(n)
    backfill = collection.backfill()
    assert backfill.progress().missing == 12

    result = backfill.run_pass()

    assert (result.filled, result.cleared, result.unfillable) == (12, 0, [])
    assert backfill.progress().complete
    assert collection.building_models() == {"faro-hash-v2"}
    assert collection.building_qdrant.count() == collection.building.count() == collection.pg.count()
    assert collection.pg.for_generation(1).count() == collection.pg.count()  # the live one is untouched


def test_writes_made_during_the_backfill_are_differences_the_next_pass_closes(collection: Collection) -> None:
    for n in range(10):
        collection.ingest(n)
    backfill = collection.backfill()
    backfill.run_pass()
    paid_for = set(collection.model_b.sent)
    collection.model_b.sent.clear()

    collection.ingest(3, version=2)  # replaced
    collection.plane.ingest.delete("doc-04")  # deleted
    collection.ingest(10)  # new
    assert backfill.progress() == type(backfill.progress())(documents=10, missing=2, stale=2)

    result = backfill.run_pass()

    assert (result.filled, result.cleared) == (2, 2) and backfill.progress().complete
    held = {  # what the model was sent for each chunk (its context, then its text): its document
        embedded_text(chunk.metadata.get(CONTEXT_KEY, ""), chunk.text): chunk.doc_id
        for chunks in collection.building.iter_chunks()
        for chunk in chunks
    }
    assert "doc-04" not in held.values() and "doc-10" in held.values()
    sent = collection.model_b.sent
    assert sent and not paid_for & set(sent)  # only texts never embedded before were paid for
    assert {held[t] for t in sent} <= {"doc-03", "doc-10"}
    assert collection.building_qdrant.count() == collection.building.count()


def test_a_stopped_pass_resumes_where_it_stopped_without_embedding_twice(collection: Collection) -> None:
    for n in range(8):
        collection.ingest(n)
    stop = threading.Event()
    first = collection.backfill(batch_documents=2)
    first.run_pass(stop=stop, on_batch=lambda result: stop.set() if result.filled else None)
    sent_before = len(collection.model_b.sent)
    assert 0 < collection.building.count() < collection.pg.count()

    resumed = collection.backfill(batch_documents=2)  # a new process
    resumed.run_pass()

    assert resumed.progress().complete
    assert len(collection.model_b.sent) == collection.building.count()  # every chunk embedded once
    assert sent_before < len(collection.model_b.sent)


class ReadWatch:
    """The document catalog, noting each batch of records read."""

    def __init__(self, inner: PgVectorStore) -> None:
        self.inner = inner
        self.batches: list[list[str]] = []
        self.second_batch_read = threading.Event()

    def get_documents(self, doc_ids):  # type: ignore[no-untyped-def]
        self.batches.append(list(doc_ids))
        if len(self.batches) >= 2:
            self.second_batch_read.set()
        return self.inner.get_documents(doc_ids)


class WaitingEmbedder(RecordingEmbedder):
    """A model whose first call lasts until the backfill has read the next batch (10 s at most)."""

    def __init__(self, watch: ReadWatch) -> None:
        super().__init__(DIMENSION, model="faro-hash-v2")
        self.watch = watch
        self.saw_next_batch_read: bool | None = None

    def _embed_batch(self, texts: list[str]):  # type: ignore[no-untyped-def]
        if self.saw_next_batch_read is None:
            self.saw_next_batch_read = self.watch.second_batch_read.wait(timeout=10)
        return super()._embed_batch(texts)


def test_the_next_batch_is_read_while_this_one_is_embedded(collection: Collection) -> None:
    """With a remote PostgreSQL, reading a batch's records, spans and texts takes round trips: they overlap
    the model's time instead of adding to it."""
    for n in range(6):
        collection.ingest(n)
    watch = ReadWatch(collection.pg)
    model = WaitingEmbedder(watch)
    backfill = Backfill(
        collection.building,
        collection.building_qdrant,
        watch,  # type: ignore[arg-type]
        collection.pg,
        Chunker(CHUNKING),
        model,
        live=collection.pg,
        batch_documents=2,
    )
    result = backfill.run_pass()
    assert model.saw_next_batch_read is True
    assert watch.batches == [["doc-00", "doc-01"], ["doc-02", "doc-03"], ["doc-04", "doc-05"]]
    assert result.filled == 6 and backfill.progress().complete


class ThreadWatch:
    """The generation's PostgreSQL side, noting the thread of each listing, claim and release."""

    def __init__(self, inner: PgVectorStore) -> None:
        self.inner = inner
        self.threads: dict[str, set[str]] = {"missing_documents": set(), "claim": set(), "release": set()}

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def _note(self, what: str) -> None:
        self.threads[what].add(threading.current_thread().name)

    def missing_documents(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._note("missing_documents")
        return self.inner.missing_documents(*args, **kwargs)

    @contextmanager
    def fill_claims(self):  # type: ignore[no-untyped-def]
        with self.inner.fill_claims() as claims:
            watch = self

            class Noted:
                def claim(self, doc_ids):  # type: ignore[no-untyped-def]
                    watch._note("claim")
                    return claims.claim(doc_ids)

                def release(self, doc_ids):  # type: ignore[no-untyped-def]
                    watch._note("release")
                    return claims.release(doc_ids)

            yield Noted()


def test_the_embedding_stage_lists_claims_and_releases_nothing_itself(collection: Collection) -> None:
    """The thread that cuts and embeds bounds a pass: listing the next documents, claiming them and
    letting go of a written batch's claims are round trips the reader and writer stages make instead."""
    for n in range(6):
        collection.ingest(n)
    target = ThreadWatch(collection.building)
    backfill = Backfill(
        target,  # type: ignore[arg-type]
        collection.building_qdrant,
        collection.pg,
        collection.pg,
        Chunker(CHUNKING),
        RecordingEmbedder(DIMENSION, model="faro-hash-v2"),
        live=collection.pg,
        batch_documents=2,
    )
    result = backfill.run_pass()
    assert result.filled == 6 and backfill.progress().complete
    assert all(target.threads.values()), target.threads
    here = threading.current_thread().name
    assert not any(here in threads for threads in target.threads.values()), target.threads
    assert target.threads["release"] == {name for name in target.threads["release"] if "writer" in name}


def hnsw_built(store: PgVectorStore) -> bool:
    return any("USING hnsw" in definition for definition in store.index_definitions().values())


def test_a_full_pass_builds_the_hnsw_index_and_a_stopped_one_leaves_it_to_the_next(
    collection: Collection,
) -> None:
    for n in range(8):
        collection.ingest(n)
    stop = threading.Event()
    collection.backfill(batch_documents=2).run_pass(
        stop, lambda result: stop.set() if result.filled else None
    )
    assert not hnsw_built(collection.building)  # loaded without it: built once, after the load

    collection.backfill(batch_documents=2).run_pass()

    assert hnsw_built(collection.building)
    assert collection.building_qdrant.count() == collection.building.count() == collection.pg.count()
    assert collection.building.outbox_pending() == 0


class RefusingPoints:
    """A Qdrant side that refuses every write (a Qdrant that is down)."""

    def upsert(self, chunks) -> None:  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("qdrant is down")

    def delete(self, ids) -> None:  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("qdrant is down")


def test_points_qdrant_refuses_stay_in_the_outbox_and_the_pass_says_so(collection: Collection) -> None:
    for n in range(6):
        collection.ingest(n)
    refused = Backfill(
        collection.building,
        RefusingPoints(),
        collection.pg,
        collection.pg,
        Chunker(CHUNKING),
        CachedEmbedder(collection.model_b, collection.pg),
        batch_documents=2,
    )

    with pytest.raises(OutboxApplyError, match="qdrant is down"):
        refused.run_pass()

    assert collection.building.outbox_pending() > 0  # PostgreSQL holds what Qdrant lacks
    collection.backfill().run_pass()  # Qdrant is back: the next pass pushes what was left
    assert collection.building.outbox_pending() == 0
    assert collection.building_qdrant.count() == collection.building.count() == collection.pg.count()


def test_documents_without_a_kept_text_are_filled_from_the_live_chunks_or_reported(
    collection: Collection, make_chunks, make_record
) -> None:
    collection.ingest(1)
    legacy = make_chunks("legacy", 3, dimension=DIMENSION)
    collection.pg.write_document(make_record(legacy), legacy)  # no text kept, as before this version

    recut = collection.backfill(ChunkingConfig(strategy="fixed", tokenizer="chars", size=16, overlap=0))
    other_cut = recut.run_pass()
    assert (other_cut.filled, other_cut.unfillable) == (1, ["legacy"])
    assert recut.progress().missing == 1

    same_cut = collection.backfill().run_pass()  # only the model changes: the live chunks' texts will do
    assert (same_cut.filled, same_cut.unfillable) == (1, [])
    refilled = collection.building.fetch_chunks([chunk.id for chunk in legacy])
    assert [c.text for c in refilled] == [c.text for c in legacy]
    assert {c.model for c in refilled} == {"faro-hash-v2"}


class CountingChunker(Chunker):
    def __init__(self, config: ChunkingConfig) -> None:
        super().__init__(config)
        self.cut: list[str] = []

    def chunk(self, text: str, fmt: str = "text"):  # type: ignore[no-untyped-def]
        self.cut.append(text)
        return super().chunk(text, fmt)


def cuts(store: PgVectorStore) -> list[tuple]:
    """Every chunk of ``store`` without its vector and model: how the documents were cut."""
    return sorted(
        (c.doc_id, c.seq, c.text, c.start, c.end, c.metadata, c.content_hash)
        for chunks in store.iter_chunks()
        for c in chunks
    )


def test_a_model_change_reuses_the_live_cut_and_cuts_the_text_when_the_live_one_lacks_it(
    collection: Collection,
) -> None:
    for n in range(6):
        collection.ingest(n)

    def backfill(live: PgVectorStore, chunker: Chunker) -> Backfill:
        embedder = CachedEmbedder(collection.model_b, collection.pg)
        return Backfill(
            collection.building,
            collection.building_qdrant,
            collection.pg,
            collection.pg,
            chunker,
            embedder,
            live=live,
        )

    reuse = CountingChunker(CHUNKING)
    assert backfill(collection.pg, reuse).run_pass().filled == 6
    assert reuse.cut == []  # every document's spans came from the live generation, none was cut again
    assert cuts(collection.building) == cuts(collection.pg)

    collection.ingest(2, version=2)
    assert backfill(collection.pg, reuse).run_pass().filled == 1 and reuse.cut == []
    assert cuts(collection.building) == cuts(collection.pg)

    collection.ingest(3, version=2)
    empty = collection.pg.for_generation(3)  # a "live" generation that holds none of them
    empty.ensure_chunks_table(with_hnsw=False)
    fallback = CountingChunker(CHUNKING)
    assert backfill(empty, fallback).run_pass().filled == 1
    assert fallback.cut == [text(3, version=2)]
    assert cuts(collection.building) == cuts(collection.pg)
