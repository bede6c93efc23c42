"""Index generations in the real stores: the registry in PostgreSQL (one Live, one Building), a generation's
own chunks table, outbox rows and Qdrant collection, fills that never write over newer content, the cutover
that refuses an incomplete generation, and the Qdrant alias that follows the live one."""

from __future__ import annotations

import logging
import time

import numpy as np
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from faro_workloads.contract.generations import GenerationState, chunks_table_name
from faro_workloads.contract.index_profile import ChunkingIdentity, EmbeddingIdentity, IndexProfile
from faro_workloads.contract.settings import CollectionConfig, HnswConfig, PostgresConfig, QdrantConfig
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

pytestmark = pytest.mark.integration

CHUNKING = ChunkingIdentity(strategy="recursive", size=64, overlap=0, tokenizer="chars/4")


def profile(model: str) -> IndexProfile:
    return IndexProfile(
        embedding=EmbeddingIdentity(provider="hash", model=model, dimension=16), chunking=CHUNKING
    )


@pytest.fixture
def pg(pg_store_factory) -> PgVectorStore:
    store = pg_store_factory()
    store.register_generation(profile("a"), GenerationState.LIVE, at=1)
    return store


def _write(pg: PgVectorStore, make_chunks, make_record, doc_id: str, seed: int) -> str:
    chunks = make_chunks(doc_id, 2, seed=seed)
    pg.write_document(make_record(chunks), chunks)
    return chunks[0].content_hash


def test_the_registry_holds_one_live_and_one_building_generation(pg: PgVectorStore) -> None:
    building = pg.register_generation(profile("b"), GenerationState.BUILDING)

    assert [(g.id, g.state, g.profile.embedding.model) for g in pg.generations()] == [
        (1, GenerationState.LIVE, "a"),
        (2, GenerationState.BUILDING, "b"),
    ]
    assert building.fingerprint == profile("b").fingerprint and building.live_since is None
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.register_generation(profile("c"), GenerationState.BUILDING)
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg.register_generation(profile("c"), GenerationState.LIVE)


def test_a_generation_fills_from_the_documents_and_is_promoted_only_when_complete(
    pg: PgVectorStore, make_chunks, make_record
) -> None:
    digests = {doc_id: _write(pg, make_chunks, make_record, doc_id, seed=1) for doc_id in ("a", "b", "c")}
    pg.register_generation(profile("b"), GenerationState.BUILDING)
    second = pg.for_generation(2)
    second.ensure_chunks_table(with_hnsw=False)
    assert second.missing_documents(10) == sorted(digests.items())
    assert second.promote() == (3, 3, 0)  # nothing filled: refused, nothing changed

    rewritten = {
        doc_id: make_chunks(doc_id, 3, seed=7, content_hash=digests[doc_id]) for doc_id in ("a", "b")
    }
    queued = second.fill_documents(
        {doc_id: (digests[doc_id], chunks) for doc_id, chunks in rewritten.items()}
    )
    assert (
        set(queued) == {"a", "b"} and second.outbox_pending() == 6 and pg.outbox_pending() == 6
    )  # gen 1's own
    outdated = make_chunks("c", 1, seed=8, content_hash="an older content")
    assert second.fill_documents({"c": ("an older content", outdated)}) == {}  # skipped: not c's content
    assert second.missing_documents(10) == [("c", digests["c"])]

    _write(pg, make_chunks, make_record, "b", seed=2)  # b changes after it was filled
    pg.delete_document("a")  # and a is deleted
    assert second.stale_documents(10) == ["a", "b"] and second.completeness() == (2, 2, 2)
    assert set(second.clear_stale(["a", "b"])) == {"a", "b"}
    for doc_id in ("b", "c"):
        current = pg.get_document(doc_id)
        assert current is not None
        chunks = make_chunks(doc_id, 1, seed=9, content_hash=current.content_hash)
        second.fill_documents({doc_id: (current.content_hash, chunks)})
    second.build_hnsw_index()

    assert second.promote() is None
    states = {g.id: g.state for g in pg.generations()}
    assert states == {1: GenerationState.RETIRED, 2: GenerationState.LIVE}
    record = pg.get_document("c")
    assert record is not None and (record.profile, record.chunk_count) == (profile("b").fingerprint, 1)
    assert any("hnsw" in definition for definition in second.index_definitions().values())


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bulk_loaded_generation_builds_its_hnsw_index_with_the_parallel_workers_configured(
    postgres_config: PostgresConfig, make_chunks, make_record, caplog: pytest.LogCaptureFixture, workers: int
) -> None:
    # The server tells this session how it builds an index (DEBUG notices), which the pool logs.
    dsn = make_conninfo(postgres_config.dsn.get_secret_value(), options="-c client_min_messages=debug1")
    config = postgres_config.model_copy(update={"dsn": SecretStr(dsn)})
    store = PgVectorStore(
        config, CollectionConfig(name=f"par{workers}", dimension=16), HnswConfig(build_workers=workers)
    )
    try:
        store.ensure_schema()
        store.register_generation(profile("a"), GenerationState.LIVE, at=1)
        digests = {f"d{i}": _write(store, make_chunks, make_record, f"d{i}", seed=i) for i in range(40)}
        store.register_generation(profile("b"), GenerationState.BUILDING)
        second = store.for_generation(2)
        second.ensure_chunks_table(with_hnsw=False)
        second.fill_documents(
            {
                doc_id: (digest, make_chunks(doc_id, 3, seed=5, content_hash=digest))
                for doc_id, digest in digests.items()
            }
        )
        with caplog.at_level(logging.DEBUG, logger="faro_workloads.postgres"):
            second.build_hnsw_index()
        built = [r.getMessage() for r in caplog.records if r.name == "faro_workloads.postgres"]
        assert ("postgres debug: using 1 parallel workers" in built) is (workers == 1), built
        assert any("hnsw" in definition for definition in second.index_definitions().values())
        with psycopg.connect(postgres_config.dsn.get_secret_value()) as conn:
            options = conn.execute(
                "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s",
                (postgres_config.schema_name, chunks_table_name(f"par{workers}", 2)),
            ).fetchone()
            analysed = conn.execute(
                "SELECT count(*) FROM pg_stats WHERE schemaname = %s AND tablename = %s",
                (postgres_config.schema_name, chunks_table_name(f"par{workers}", 2)),
            ).fetchone()
        assert options == (None,)  # the table's parallel_workers is reset after the build
        assert analysed is not None and analysed[0] > 0  # and analysed: the planner has its statistics

        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="faro_workloads.postgres"):
            second.build_hnsw_index()  # already built: nothing to do
        assert not any("building index" in r.getMessage() for r in caplog.records)
    finally:
        store.close()


def test_each_generation_drains_its_own_outbox_rows_into_its_own_qdrant_collection(
    pg: PgVectorStore, make_chunks, make_record, qdrant_store_factory
) -> None:
    digest = _write(pg, make_chunks, make_record, "doc", seed=1)
    first_qdrant = qdrant_store_factory(pg.collection)
    second, second_qdrant = pg.for_generation(2), first_qdrant.for_generation(2)
    pg.register_generation(profile("b"), GenerationState.BUILDING)
    second.ensure_chunks_table(with_hnsw=False)
    second_qdrant.ensure_collection(defer_indexing=True)
    second.fill_documents({"doc": (digest, make_chunks("doc", 5, seed=3, content_hash=digest))})

    OutboxDrainer(second, second_qdrant).drain()
    assert (second_qdrant.count(), first_qdrant.count(), pg.outbox_pending()) == (5, 0, 2)
    OutboxDrainer(pg, first_qdrant).drain()
    assert (first_qdrant.count(), second.outbox_pending(), pg.outbox_pending()) == (2, 0, 0)
    second_qdrant.enable_indexing()
    assert second_qdrant.name == f"{pg.collection.name}_g2"


def test_the_live_alias_follows_the_promoted_generation(pg: PgVectorStore, qdrant_store_factory) -> None:
    first = qdrant_store_factory(pg.collection)
    second = first.for_generation(2)
    second.ensure_collection()
    first.point_live_alias()
    assert first.live_alias_target() == pg.collection.name

    second.point_live_alias()

    assert first.live_alias_target() == f"{pg.collection.name}_g2"


def test_compacting_one_generation_in_memory_keeps_the_others_and_the_alias(
    collection_config, make_chunks
) -> None:
    first = QdrantStore(QdrantConfig(path=":memory:", local_engine="python"), collection_config)
    second = first.for_generation(2)
    try:
        first.ensure_collection()
        second.ensure_collection()
        first.upsert(make_chunks("a", 4))
        second.upsert(make_chunks("b", 3))
        second.point_live_alias()
        first.delete([chunk.id for chunk in make_chunks("a", 4)[:3]])

        assert first.compact()

        assert (first.count(), second.count()) == (1, 3)
        assert first.live_alias_target() == second.name
        hits = second.search(np.asarray(make_chunks("b", 3)[0].embedding), 1)
        assert hits[0].doc_id == "b"
    finally:
        second.close()
        first.close()


def test_dropping_the_collection_drops_every_generations_table(pg: PgVectorStore, postgres_config) -> None:
    pg.register_generation(profile("b"), GenerationState.BUILDING)
    pg.for_generation(2).ensure_chunks_table(with_hnsw=False)

    pg.drop()

    with psycopg.connect(postgres_config.dsn.get_secret_value()) as conn:
        left = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
            (postgres_config.schema_name, f"{pg.collection.name}%"),
        ).fetchall()
    assert left == []
    assert pg.generations() == []  # no registry: nothing registered (what a delete reads first)


def test_fill_claims_are_exclusive_per_document_and_die_with_their_connection(pg: PgVectorStore) -> None:
    building = pg.for_generation(2)
    with building.fill_claims() as first, building.fill_claims() as second:
        assert first.claim(["a", "b"]) == {"a", "b"}
        assert second.claim(["a", "b", "c"]) == {"c"}  # another process holds a and b
        first.release(["a"])
        assert second.claim(["a", "b"]) == {"a"}
        # A process killed mid-fill: its connection goes, and its claims with it.
        first._conn.close()  # the way a dead process's session ends
        # The server lets go of the session's locks when its backend exits, just after the close.
        deadline = time.monotonic() + 10
        while not (claimed := second.claim(["b"])) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert claimed == {"b"}
    with building.fill_claims() as later:  # every claim of a finished pass was let go
        assert later.claim(["a", "b", "c"]) == {"a", "b", "c"}
    with pg.for_generation(3).fill_claims() as other, building.fill_claims() as same:
        assert other.claim(["a"]) == {"a"} and same.claim(["a"]) == {"a"}  # claims are per generation
