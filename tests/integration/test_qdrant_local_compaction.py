"""QdrantStore compacts qdrant-client local-mode collections after deletes.

Local mode keeps every deleted point's slot (id, payload, vector) in memory, where each filtered search
still evaluates its filter, and its SQLite file never shrinks. These tests churn collections through
QdrantStore the way ingest writes (delete a document by doc_id and upsert its new version, documents that
come and go, points deleted by id as the outbox does) and check that the garbage stays bounded and that the
compacted collection still holds and finds exactly the live points, in memory, in a folder, and after the
folder is reopened.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from faro_workloads.contract.settings import CollectionConfig, Distance, QdrantConfig
from faro_workloads.core.documents import Chunk
from faro_workloads.core.repair import same_point
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.core.stores.qdrant_compaction import CompactionPolicy, LocalGarbage

pytestmark = pytest.mark.integration

# A low floor, so that a short churn compacts several times.
POLICY = CompactionPolicy(min_deleted=16, deleted_share=0.2)
NEVER = CompactionPolicy(min_deleted=10**9)
STABLE = {"keep-en": (5, "en"), "keep-de": (4, "de")}
REPLACED = ("doc-0", "doc-1", "doc-2")

ChunkFactory = Callable[..., list[Chunk]]


def open_store(location: str, collection: CollectionConfig, policy: CompactionPolicy) -> QdrantStore:
    config = QdrantConfig(path=location, upsert_batch_size=5, local_engine="python")
    store = QdrantStore(config, collection, compaction=policy)
    store.ensure_collection()
    return store


def garbage_of(store: QdrantStore) -> LocalGarbage:
    garbage = store.local_garbage()
    assert garbage is not None, "local mode must report its slots"
    return garbage


@dataclass
class Churn:
    """Writes through a store and keeps the live points it should hold; counts what it sees of the garbage."""

    store: QdrantStore
    make_chunks: ChunkFactory
    live: dict[uuid.UUID, Chunk] = field(default_factory=dict)
    deleted_points: int = 0
    compactions: int = 0  # seen as the slot count going down
    slots: int = 0

    def put(self, chunks: list[Chunk]) -> None:
        self.store.upsert(chunks)
        self.live.update({chunk.id: chunk for chunk in chunks})

    def drop_document(self, doc_id: str) -> None:
        gone = [point for point, chunk in self.live.items() if chunk.doc_id == doc_id]
        self.store.delete_document(doc_id)
        for point in gone:
            del self.live[point]
        self.deleted_points += len(gone)

    def drop_points(self, ids: list[uuid.UUID]) -> None:
        self.store.delete(ids)
        for point in ids:
            del self.live[point]
        self.deleted_points += len(ids)

    def start(self) -> None:
        for doc_id, (count, lang) in STABLE.items():
            self.put(self.make_chunks(doc_id, count, metadata={"lang": lang}))
        for doc_id in REPLACED:
            self.put(self.make_chunks(doc_id, 4, metadata={"lang": "en"}))

    def cycle(self, n: int) -> LocalGarbage:
        # a document that comes and goes: a new doc_id, so its point ids never come back
        self.put(self.make_chunks(f"gone-{n}", 6, seed=n, metadata={"lang": "tmp"}))
        self.drop_document(f"gone-{n}")
        # a replace, as ingest does it: delete by doc_id, upsert the new version (3 to 6 chunks)
        doc_id = REPLACED[n % len(REPLACED)]
        self.drop_document(doc_id)
        self.put(self.make_chunks(doc_id, 3 + n % 4, seed=1000 + n, metadata={"lang": "en", "v": n}))
        # the outbox's way: points deleted by id (the last chunk of another document)
        other = [c for c in self.live.values() if c.doc_id == REPLACED[(n + 1) % len(REPLACED)]]
        if len(other) > 1:
            self.drop_points([max(other, key=lambda chunk: chunk.seq).id])
        return self.observe()

    def observe(self) -> LocalGarbage:
        garbage = garbage_of(self.store)
        assert garbage.slots - garbage.deleted == len(self.live) == self.store.count()
        if garbage.slots < self.slots:
            self.compactions += 1
        self.slots = garbage.slots
        return garbage


def assert_holds(store: QdrantStore, live: dict[uuid.UUID, Chunk]) -> None:
    """``store`` holds exactly the ``live`` points (ids, payloads, vectors) and its searches find them."""
    assert store.count() == len(live)
    assert {point for batch in store.scroll_ids(batch_size=7) for point in batch} == set(live)
    held = store.retrieve(list(live))
    assert set(held) == set(live)
    for point, chunk in live.items():
        assert same_point(chunk, held[point], Distance.COSINE), f"{point} ({chunk.doc_id} #{chunk.seq})"

    documents: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in live.values():
        documents[chunk.doc_id].append(chunk)
    for doc_id, chunks in documents.items():
        first = min(chunks, key=lambda chunk: chunk.seq)
        hits = store.search(first.embedding, len(live) + 10, SearchFilter(doc_ids=[doc_id]))
        assert sorted(hit.id for hit in hits) == sorted(chunk.id for chunk in chunks), doc_id
        assert hits[0].id == first.id and hits[0].score == pytest.approx(1.0, abs=1e-5)
        for hit in hits:
            assert (hit.doc_id, hit.seq, hit.text, hit.metadata) == (
                live[hit.id].doc_id,
                live[hit.id].seq,
                live[hit.id].text,
                live[hit.id].metadata,
            )

    query = next(iter(live.values())).embedding
    german = store.search(query, len(live) + 10, SearchFilter(metadata={"lang": "de"}))
    assert {hit.id for hit in german} == {c.id for c in live.values() if c.metadata.get("lang") == "de"}
    assert {hit.id for hit in store.search(query, len(live) + 50)} == set(live)  # nothing deleted comes back


def churn_bound(live: int) -> int:
    """Slots a collection of ``live`` points may hold under POLICY: at most ``live / 4`` dead ones (share 0.2
    of all), or fewer than the floor."""
    return live + max(POLICY.min_deleted, live // 4 + 1)


@pytest.mark.parametrize("location", ["memory", "folder"])
def test_churn_keeps_dead_slots_bounded_and_answers_exactly(
    location: str, tmp_path: Path, collection_config: CollectionConfig, make_chunks: ChunkFactory
) -> None:
    path = ":memory:" if location == "memory" else str(tmp_path / "qdrant")
    cycles = 40 if location == "memory" else 14  # a folder commits SQLite once per point
    store = open_store(path, collection_config, POLICY)
    churn = Churn(store, make_chunks)
    try:
        churn.start()
        for n in range(cycles):
            garbage = churn.cycle(n)
            assert not POLICY.due(garbage.slots, garbage.deleted), f"cycle {n}: {garbage}"
            assert garbage.slots <= churn_bound(len(churn.live)), f"cycle {n}: {garbage}"

        # the churn deleted far more than the collection may hold, and the store compacted it repeatedly
        assert churn.deleted_points > 3 * churn_bound(len(churn.live))
        assert churn.compactions >= 3
        assert_holds(store, churn.live)
        if location == "folder":
            assert garbage_of(store).storage_free_bytes <= garbage_of(store).storage_bytes // 2
    finally:
        store.close()

    if location == "folder":  # reopened: the same points, and nothing more in memory
        reopened = open_store(path, collection_config, POLICY)
        try:
            assert_holds(reopened, churn.live)
            assert garbage_of(reopened).slots == len(churn.live)
        finally:
            reopened.close()


@pytest.mark.parametrize("location", ["memory", "folder"])
def test_compaction_keeps_every_point_and_the_folder_reopens_intact(
    location: str, tmp_path: Path, collection_config: CollectionConfig, make_chunks: ChunkFactory
) -> None:
    path = ":memory:" if location == "memory" else str(tmp_path / "qdrant")
    store = open_store(path, collection_config, NEVER)
    churn = Churn(store, make_chunks)
    try:
        churn.start()
        for n in range(8):
            churn.cycle(n)
        before_garbage = churn.observe()
        assert before_garbage.deleted > len(churn.live)  # the policy never compacted
        before = store.retrieve(list(churn.live))

        assert store.compact()

        after_garbage = garbage_of(store)
        assert (after_garbage.slots, after_garbage.deleted) == (len(churn.live), 0)
        after = store.retrieve(list(churn.live))
        assert set(after) == set(before)
        for point in before:
            assert same_point(before[point], after[point], Distance.COSINE), point
        assert_holds(store, churn.live)
        # the compacted collection goes on taking writes and deletes
        churn.cycle(8)
        assert_holds(store, churn.live)
    finally:
        store.close()

    if location == "folder":
        reopened = open_store(path, collection_config, NEVER)
        try:
            assert_holds(reopened, churn.live)
        finally:
            reopened.close()


def test_sqlite_file_shrinks_after_mass_delete_and_at_start(
    tmp_path: Path, make_chunks: ChunkFactory
) -> None:
    collection = CollectionConfig(name=f"big_{uuid.uuid4().hex[:8]}", dimension=1024)
    kept = make_chunks("kept", 3, dimension=1024)
    bulk = make_chunks("bulk", 60, dimension=1024)

    # compaction on: deleting most of the points shrinks the file at once
    store = open_store(str(tmp_path / "on"), collection, POLICY)
    try:
        store.upsert(kept + bulk)
        peak = garbage_of(store).storage_bytes
        store.delete_document("bulk")
        garbage = garbage_of(store)
        assert (garbage.slots, garbage.deleted) == (3, 0)
        assert garbage.storage_bytes < peak // 4, (garbage, peak)
        assert garbage.storage_free_bytes == 0
        assert_holds(store, {chunk.id: chunk for chunk in kept})
    finally:
        store.close()

    # a folder left with free pages (here: compaction off) is vacuumed when a store opens it
    old = open_store(str(tmp_path / "off"), collection, NEVER)
    try:
        old.upsert(kept + bulk)
        old.delete_document("bulk")
        assert garbage_of(old).storage_free_bytes > garbage_of(old).storage_bytes // 2
    finally:
        old.close()
    store = open_store(str(tmp_path / "off"), collection, POLICY)
    try:
        garbage = garbage_of(store)
        assert garbage.storage_free_bytes == 0 and garbage.storage_bytes < peak // 4, garbage
        assert_holds(store, {chunk.id: chunk for chunk in kept})
    finally:
        store.close()


def test_searches_during_compactions_see_whole_collections(
    collection_config: CollectionConfig, make_chunks: ChunkFactory
) -> None:
    store = open_store(":memory:", collection_config, POLICY)
    churn = Churn(store, make_chunks)
    churn.start()
    english = {chunk.id for chunk in churn.live.values() if chunk.doc_id == "keep-en"}
    query = np.asarray(next(c for c in churn.live.values() if c.doc_id == "keep-en").embedding)
    done = threading.Event()
    wrong: list[object] = []
    searches = 0

    def search_all_the_time() -> None:
        nonlocal searches
        while not done.is_set():
            try:
                hits = store.search(query, 20, SearchFilter(doc_ids=["keep-en"]))
                if {hit.id for hit in hits} != english:
                    wrong.append(sorted(hit.seq for hit in hits))
            except Exception as exc:  # reported below; the thread must not die silently
                wrong.append(exc)
            searches += 1

    searcher = threading.Thread(target=search_all_the_time)
    searcher.start()
    try:
        for n in range(40):
            churn.cycle(n)
    finally:
        done.set()
        searcher.join(timeout=60)
        store.close()
    assert not searcher.is_alive()
    assert churn.compactions >= 3 and searches > 0
    assert wrong == []


def test_server_mode_is_left_to_the_server(dead_qdrant_store: QdrantStore) -> None:
    assert dead_qdrant_store.local_garbage() is None
    assert dead_qdrant_store.compact() is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_deleted": 0}, "min_deleted must be at least 1, got 0"),
        ({"deleted_share": 1.0}, "deleted_share must be between 0 and 1 (exclusive), got 1.0"),
    ],
)
def test_policy_rejects_bad_values_with_one_line(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        CompactionPolicy(**kwargs)  # type: ignore[arg-type]
