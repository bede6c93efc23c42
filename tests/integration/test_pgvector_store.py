"""PgVectorStore against a real PostgreSQL + pgvector (pgserver)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.contract.settings import CollectionConfig, Distance, PostgresConfig
from faro_workloads.core.documents import SourceText, chunk_point_id
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores import PgVectorStore, StoreSchemaMismatch
from faro_workloads.core.stores.postgres.tables import CollectionTables

from support.postgres import drop_connections

pytestmark = pytest.mark.integration

OPCLASSES = {
    Distance.COSINE: "vector_cosine_ops",
    Distance.DOT: "vector_ip_ops",
    Distance.EUCLID: "vector_l2_ops",
}


@pytest.mark.parametrize("distance", list(Distance))
def test_schema_has_tables_and_hnsw_index_for_the_distance(
    pg_store_factory: Callable[..., PgVectorStore],
    collection_config: CollectionConfig,
    postgres_config: PostgresConfig,
    distance: Distance,
) -> None:
    collection = collection_config.model_copy(update={"distance": distance})
    store = pg_store_factory(collection)
    store.ensure_schema()  # idempotent

    dsn = postgres_config.dsn.get_secret_value()
    with psycopg.connect(dsn) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (postgres_config.schema_name,)
            )
        }
        indexes = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (postgres_config.schema_name, f"{collection.name}_chunks"),
            ).fetchall()
        )
    name = collection.name
    assert tables == {
        f"{name}_{table}"
        for table in (
            "documents",
            "chunks",
            "outbox",
            "texts",
            "document_marks",
            "requeued",
            "embedding_cache",
            "generations",
        )
    }
    hnsw = [definition for definition in indexes.values() if "USING hnsw" in definition]
    assert len(hnsw) == 1
    assert f"(embedding {OPCLASSES[distance]})" in hnsw[0]
    assert "m='16'" in hnsw[0] and "ef_construction='100'" in hnsw[0]
    assert any("btree (doc_id)" in definition for definition in indexes.values())
    # the chunks of each tenant, in the expression the tenant filter names
    tenant = indexes[f"{name}_chunks_tenant"]
    assert f"btree (((metadata ->> '{TENANT_KEY}'::text))) WHERE (metadata ? '{TENANT_KEY}'::text)" in tenant
    assert store.index_definitions() == indexes


def test_other_dimension_or_distance_is_a_clear_error(
    pg_store: PgVectorStore,
    pg_store_factory: Callable[..., PgVectorStore],
    collection_config: CollectionConfig,
) -> None:
    wider = pg_store_factory(collection_config.model_copy(update={"dimension": 32}), ensure=False)
    with pytest.raises(StoreSchemaMismatch, match=r"16-d embeddings.*32-d"):
        wider.ensure_schema()
    euclid = pg_store_factory(
        collection_config.model_copy(update={"distance": Distance.EUCLID}), ensure=False
    )
    with pytest.raises(StoreSchemaMismatch, match="vector_l2_ops"):
        euclid.ensure_schema()
    assert isinstance(StoreSchemaMismatch("x"), ValueError)


def test_write_replace_and_delete_a_document(pg_store: PgVectorStore, make_chunks, make_record) -> None:
    first = make_chunks("guide/intro.md", 5, seed=1, metadata={"lang": "en"})
    queued = pg_store.write_document(make_record(first, source="s3://bucket/intro.md"), first)

    assert queued == [chunk.id for chunk in first]
    assert pg_store.count() == 5 and pg_store.document_count() == 1
    record = pg_store.get_document("guide/intro.md")
    assert record is not None
    assert (record.chunk_count, record.source, record.content_hash) == (
        5,
        "s3://bucket/intro.md",
        "hash-guide/intro.md-1",
    )
    assert pg_store.outbox_point_ids() == queued

    second = make_chunks("guide/intro.md", 3, seed=2, metadata={"lang": "de"})
    queued_again = pg_store.write_document(make_record(second), second)

    stale = {chunk_point_id("guide/intro.md", seq) for seq in (3, 4)}
    assert set(queued_again) == {chunk.id for chunk in second} | stale
    assert pg_store.all_ids() == {chunk.id for chunk in second}
    stored = pg_store.fetch_chunks([chunk.id for chunk in second])
    assert [chunk.text for chunk in stored] == [chunk.text for chunk in second]
    assert all(chunk.metadata == {"lang": "de"} for chunk in stored)
    np.testing.assert_allclose(stored[1].embedding, second[1].embedding, rtol=1e-6)
    assert pg_store.get_document("guide/intro.md").chunk_count == 3  # type: ignore[union-attr]
    assert pg_store.outbox_pending() == 5 + 5

    assert pg_store.delete_document("no-such-doc") is None
    deleted = pg_store.delete_document("guide/intro.md")
    assert set(deleted or []) == {chunk.id for chunk in second}
    assert pg_store.count() == 0 and pg_store.get_document("guide/intro.md") is None
    assert pg_store.outbox_point_ids()[-3:] == deleted
    assert pg_store.delete_document("guide/intro.md") is None


def test_writes_are_validated_before_touching_postgres(
    pg_store: PgVectorStore, make_chunks, make_record
) -> None:
    wrong_dimension = make_chunks("a", 2, dimension=8)
    with pytest.raises(ValueError, match="shape"):
        pg_store.write_document(make_record(wrong_dimension), wrong_dimension)
    mixed = make_chunks("a", 2) + make_chunks("b", 1)
    with pytest.raises(ValueError, match="part of 'a'"):
        pg_store.write_document(make_record(mixed), mixed)
    assert pg_store.count() == 0 and pg_store.outbox_pending() == 0


def test_list_documents_pages_by_doc_id(pg_store: PgVectorStore, make_chunks, make_record) -> None:
    for doc_id in ["d3", "d1", "d4", "d2", "d5"]:
        chunks = make_chunks(doc_id, 1)
        pg_store.write_document(make_record(chunks), chunks)
    first = pg_store.list_documents(limit=2)
    rest = pg_store.list_documents(limit=10, after=first[-1].doc_id)
    assert [d.doc_id for d in first] == ["d1", "d2"]
    assert [d.doc_id for d in rest] == ["d3", "d4", "d5"]


@pytest.mark.parametrize("distance", list(Distance))
def test_search_ranks_and_scores_like_qdrant_does(
    pg_store_factory: Callable[..., PgVectorStore],
    collection_config: CollectionConfig,
    make_chunks,
    distance: Distance,
) -> None:
    store = pg_store_factory(collection_config.model_copy(update={"distance": distance}))
    chunks = make_chunks("doc", 40)
    for i, chunk in enumerate(chunks):  # vary norms so dot and euclid differ from cosine
        chunk.embedding = chunk.embedding * (1.0 + i / 10)
    store.bulk_load(chunks)
    query = make_chunks("query", 1, seed=99)[0].embedding

    hits = store.search(query, 5)

    vectors = np.stack([chunk.embedding for chunk in chunks]).astype(np.float64)
    if distance is Distance.COSINE:
        scores = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
        best = np.argsort(-scores)
    elif distance is Distance.DOT:
        scores = vectors @ query
        best = np.argsort(-scores)
    else:
        scores = np.linalg.norm(vectors - query, axis=1)
        best = np.argsort(scores)
    assert [hit.id for hit in hits] == [chunks[i].id for i in best[:5]]
    np.testing.assert_allclose([hit.score for hit in hits], scores[best[:5]], rtol=1e-4, atol=1e-5)
    assert hits[0].doc_id == "doc" and hits[0].text == chunks[best[0]].text


def test_search_filters_by_doc_ids_and_metadata(pg_store: PgVectorStore, make_chunks, make_record) -> None:
    for doc_id, lang, year in [("en-1", "en", 2023), ("en-2", "en", 2024), ("de-1", "de", 2024)]:
        chunks = make_chunks(doc_id, 10, metadata={"lang": lang, "year": year, "public": lang == "en"})
        pg_store.write_document(make_record(chunks), chunks)
    query = make_chunks("query", 1, seed=7)[0].embedding

    by_doc = pg_store.search(query, 50, SearchFilter(doc_ids=["en-2", "de-1"]))
    assert len(by_doc) == 20 and {hit.doc_id for hit in by_doc} == {"en-2", "de-1"}
    by_lang = pg_store.search(query, 50, SearchFilter(metadata={"lang": "en"}))
    assert len(by_lang) == 20 and {hit.doc_id for hit in by_lang} == {"en-1", "en-2"}
    both = pg_store.search(query, 5, SearchFilter(doc_ids=["en-1", "de-1"], metadata={"year": 2024}))
    assert len(both) == 5 and {hit.doc_id for hit in both} == {"de-1"}
    by_bool = pg_store.search(query, 50, SearchFilter(metadata={"public": False}))
    assert {hit.doc_id for hit in by_bool} == {"de-1"}
    assert pg_store.search(query, 5, SearchFilter(metadata={"lang": "fr"})) == []
    scores = [hit.score for hit in by_doc]
    assert scores == sorted(scores, reverse=True)


def test_bulk_load_iterates_samples_and_writes_no_outbox(pg_store: PgVectorStore, make_chunks) -> None:
    chunks = [chunk for d in range(12) for chunk in make_chunks(f"bulk-{d}", 100)]
    pg_store.bulk_load(chunks)
    pg_store.bulk_load(chunks[:50])  # reloading is an upsert

    batches = list(pg_store.iter_chunks(batch_size=500))
    assert [len(batch) for batch in batches] == [500, 500, 200]
    ids = [chunk.id for batch in batches for chunk in batch]
    assert ids == sorted(ids) and set(ids) == {chunk.id for chunk in chunks} == pg_store.all_ids()
    assert pg_store.count() == 1200 and pg_store.document_count() == 12
    assert pg_store.get_document("bulk-3").chunk_count == 100  # type: ignore[union-attr]
    assert pg_store.outbox_pending() == 0

    stored = {chunk.embedding.tobytes() for chunk in chunks}
    sample = pg_store.sample_embeddings(10)
    assert len(sample) == 10 and all(vector.tobytes() in stored for vector in sample)


def test_claimed_outbox_rows_stay_when_applying_fails(
    pg_store: PgVectorStore, make_chunks, make_record
) -> None:
    chunks = make_chunks("a", 3)
    pg_store.write_document(make_record(chunks), chunks)
    pg_store.delete_document("a")
    again = make_chunks("a", 1)
    pg_store.write_document(make_record(again), again)

    with pytest.raises(RuntimeError), pg_store.claim_outbox(100) as batch:
        assert len(batch.row_ids) == 7
        raise RuntimeError("qdrant is down")
    assert pg_store.outbox_pending() == 7

    with pg_store.claim_outbox(2) as batch:
        assert len(batch.row_ids) == 2
    assert pg_store.outbox_pending() == 5

    with pg_store.claim_outbox(100, point_ids=[chunks[1].id, chunks[2].id]) as batch:
        assert sorted(batch.absent_ids) == sorted([chunks[1].id, chunks[2].id])
        assert batch.chunks == []
    with pg_store.claim_outbox(100) as batch:
        assert batch.point_ids == [again[0].id] and [c.id for c in batch.chunks] == [again[0].id]
        assert batch.absent_ids == []
    assert pg_store.outbox_pending() == 0


def test_known_chunks_are_applied_as_they_are_only_while_postgres_still_holds_them(
    pg_store: PgVectorStore, make_chunks, make_record
) -> None:
    chunks = make_chunks("a", 3)
    pg_store.write_document(make_record(chunks), chunks)
    marker = np.zeros_like(chunks[0].embedding)  # a vector no read-back could return
    known = {c.id: dataclasses.replace(c, embedding=marker) for c in chunks}
    newer = dataclasses.replace(chunks[2], metadata={"edited": True})  # written meanwhile by someone else
    rewritten = [*chunks[:2], newer]
    pg_store.write_document(make_record(rewritten), rewritten)

    with pg_store.claim_outbox(100, known=known) as batch:
        by_id = {c.id: c for c in batch.chunks}

    assert by_id[chunks[0].id].embedding is marker and by_id[chunks[1].id].embedding is marker
    assert by_id[newer.id].metadata == {"edited": True}  # read back: the known one is stale
    assert np.array_equal(by_id[newer.id].embedding, newer.embedding)
    assert pg_store.outbox_pending() == 0


def test_a_store_made_before_the_extension_exists_works_after_ensure_schema(
    postgres_dsn: str, collection_config: CollectionConfig, make_chunks, make_record
) -> None:
    """Local mode builds the store first, then ensures the schema, on a database without pgvector yet."""
    dbname = f"fresh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        config = PostgresConfig(dsn=make_conninfo(postgres_dsn, dbname=dbname), pool_size=2)
        store = PgVectorStore(config, collection_config)
        try:
            store.ensure_schema()
            chunks = make_chunks("a", 4)
            store.write_document(make_record(chunks), chunks)
            assert [hit.id for hit in store.search(chunks[2].embedding, 1)] == [chunks[2].id]
            assert len(store.fetch_chunks([chunks[0].id])[0].embedding) == collection_config.dimension
        finally:
            store.close()
            store.close()  # closing twice is harmless
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))


def test_each_document_records_its_index_profile_and_older_tables_gain_the_column(
    pg_store: PgVectorStore, postgres_config: PostgresConfig, collection_config, make_chunks, make_record
) -> None:
    chunks = make_chunks("a", 2)
    record = dataclasses.replace(make_record(chunks), profile="0123456789abcdef")
    pg_store.write_document(record, chunks)
    assert pg_store.get_document("a").profile == "0123456789abcdef"  # type: ignore[union-attr]

    # A table from before profiles were recorded: the column is added, its documents have none.
    tables = CollectionTables.of(postgres_config.schema_name, collection_config)
    with psycopg.connect(postgres_config.dsn.get_secret_value(), autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN profile").format(tables.documents))
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (doc_id, content_hash, source, chunk_count) VALUES ('old', 'h', 's', 0)"
            ).format(tables.documents)
        )
    pg_store.ensure_schema()
    records = pg_store.get_documents(["a", "old"])
    assert {doc_id: (r.content_hash, r.profile) for doc_id, r in records.items()} == {
        "a": (record.content_hash, ""),
        "old": ("h", ""),
    }


def test_each_document_keeps_its_extracted_text_compressed_until_replaced_without_one_or_deleted(
    pg_store: PgVectorStore, postgres_config: PostgresConfig, collection_config, make_chunks, make_record
) -> None:
    prose = "Faro keeps every document's text. " * 2_000 + "Ünïcødé survives."
    chunks = make_chunks("a", 2)
    record = make_record(chunks)
    kept = SourceText(prose, "markdown", record.content_hash)
    pg_store.write_documents([(record, chunks)], {"a": kept})
    assert pg_store.get_texts(["a", "unknown"]) == {"a": kept}

    tables = CollectionTables.of(postgres_config.schema_name, collection_config)
    with psycopg.connect(postgres_config.dsn.get_secret_value()) as conn:
        stored = conn.execute(sql.SQL("SELECT octet_length(text_z) FROM {}").format(tables.texts)).fetchone()
    assert stored is not None and stored[0] * 10 < len(prose.encode())  # compressed

    pg_store.write_documents([(record, chunks)])  # a version without a text keeps none
    assert pg_store.get_texts(["a"]) == {}
    pg_store.write_documents([(record, chunks)], {"a": kept})
    pg_store.delete_document("a")
    assert pg_store.get_texts(["a"]) == {}


def test_healthy_is_a_cheap_check_that_never_raises(pg_store, collection_config) -> None:
    assert pg_store.healthy() is True
    dead = PgVectorStore(
        PostgresConfig(dsn="postgresql://faro@127.0.0.1:1/faro", connect_timeout_seconds=1), collection_config
    )
    try:
        assert dead.healthy() is False
    finally:
        dead.close()


def test_status_counts_are_exact_on_small_tables_and_estimates_on_big_ones(
    pg_store, make_chunks, make_record, postgres_config
) -> None:
    import psycopg

    for doc in range(3):
        chunks = make_chunks(f"d{doc}", 4, seed=doc)
        pg_store.write_document(make_record(chunks), chunks)
    assert pg_store.status_counts() == (3, 12)  # never analyzed: counted exactly
    with psycopg.connect(postgres_config.dsn.get_secret_value(), autocommit=True) as conn:
        conn.execute(f"ANALYZE {postgres_config.schema_name}.{pg_store.collection.name}_chunks")
        conn.execute(
            f"DELETE FROM {postgres_config.schema_name}.{pg_store.collection.name}_chunks WHERE seq = 0"
        )
    # Above the threshold the planner's estimate (taken before the delete) is reported, without a scan.
    assert pg_store.status_counts(exact_below=5)[1] == 12
    assert pg_store.status_counts()[1] == 9  # below the default threshold: exact again


def test_searches_and_writes_survive_connections_the_server_dropped(
    postgres_config: PostgresConfig, collection_config: CollectionConfig, make_chunks, make_record
) -> None:
    """Searches skip the checkout round trip and retry once on a broken connection; writes are checked."""
    store = PgVectorStore(
        postgres_config.model_copy(update={"pool_size": 1, "ef_search": 4}), collection_config
    )
    try:
        store.ensure_schema()
        chunks = make_chunks("a", 20)
        store.write_document(make_record(chunks), chunks)
        for query in (chunks[3].embedding, chunks[5].embedding):
            assert store.search(query, 1)[0].id in {chunks[3].id, chunks[5].id}
            # Every pooled connection is killed (a server restart, a failover) between two operations.
            assert drop_connections(postgres_config.dsn.get_secret_value(), collection_config.name)
        assert [hit.id for hit in store.search(chunks[7].embedding, 1)] == [chunks[7].id]
        hits = store.search(chunks[7].embedding, 10, SearchFilter(doc_ids=["a"]))  # k > ef_search, filtered
        assert len(hits) == 10 and hits[0].id == chunks[7].id
        store.write_document(make_record(chunks[:2]), chunks[:2])
        assert store.count() == 2
    finally:
        store.close()
