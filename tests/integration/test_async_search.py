"""The query service's asynchronous path on real stores: PostgreSQL through its asynchronous pool and a Qdrant
server through qdrant-client's asynchronous client answer exactly what the blocking stores answer (dense,
filtered, past ef_search, lexical, both at once, chunk texts); a dropped PostgreSQL connection costs a
retry, not an error; a slow or absent Qdrant server is a fallback to PostgreSQL, not a hang.

No Qdrant server binary can be had here: the server is qdrant-client's local mode behind Qdrant's REST routes
(:mod:`support.qdrant_rest`), which parses every request with Qdrant's own models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from qdrant_client import models

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.settings import (
    CollectionConfig,
    FaroSettings,
    PostgresConfig,
    QdrantConfig,
    QueryConfig,
)
from faro_workloads.core.documents import RankedChunk
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.fusion import at_most_per_document
from faro_workloads.core.lexical import query_vector
from faro_workloads.core.loop_bound import run_blocking
from faro_workloads.core.retrieval import Backend, Retriever
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import LexicalIndexMissing, QdrantStore
from faro_workloads.core.stores.qdrant_connection import QdrantConnection
from faro_workloads.services.query import build_query_app

from support.postgres import LEXICAL_TEXTS, drop_connections
from support.qdrant_rest import QdrantRest, serving_qdrant_rest

pytestmark = pytest.mark.integration

EMBEDDER = HashingEmbedder(dimension=16)
QUESTIONS = ["busy timeout", "checkpoint the wal file", "--force-with-lease", "shrink the database file"]


@pytest.fixture
def collection(collection_config: CollectionConfig) -> CollectionConfig:
    assert collection_config.dimension == EMBEDDER.dimension
    return collection_config


@pytest.fixture
def local(collection: CollectionConfig, make_chunks, make_record) -> Iterator[QdrantStore]:
    """A local-mode store (its connection served as a Qdrant server by the tests that need one: the Python
    engine, whose answers are qdrant-client's models as a server sends them)."""
    store = QdrantStore(QdrantConfig(path=":memory:", local_engine="python"), collection, connection=None)
    store.ensure_collection()
    yield store
    store.close()


@pytest.fixture
def filled(
    postgres_config: PostgresConfig,
    local: QdrantStore,
    collection: CollectionConfig,
    make_chunks,
    make_record,
):
    """(postgres, local qdrant) holding the same chunks: 3 per document, the first one of each its text;
    PostgreSQL's ef_search below some searches' k."""
    pg = PgVectorStore(postgres_config.model_copy(update={"ef_search": 8}), collection)
    pg.ensure_schema()
    for doc_id, text in LEXICAL_TEXTS.items():
        chunks = make_chunks(doc_id, 3, dimension=EMBEDDER.dimension, metadata=lambda seq, d=doc_id: {"d": d})
        chunks[0].text = text
        chunks[0].embedding = EMBEDDER.embed_one(text)
        pg.write_document(make_record(chunks), chunks)
        local.upsert(chunks)
    yield pg, local
    pg.close()


@pytest.fixture
def server(filled, collection: CollectionConfig) -> Iterator[tuple[QdrantStore, QdrantRest]]:
    """The local store's collection behind Qdrant's REST routes, and a store that reaches it by URL."""
    _, local = filled
    connection: QdrantConnection = local._qdrant
    with serving_qdrant_rest(connection.client, connection.lock) as (url, rest):
        store = QdrantStore(QdrantConfig(url=url, timeout_seconds=5), collection)
        yield store, rest
        store.close()


def _answers(store) -> list[object]:
    """Every kind of read, blocking, in a fixed order."""
    found: list[object] = []
    for question in QUESTIONS:
        vector, terms = EMBEDDER.embed_one(question), query_vector(question)
        found += [
            store.search(vector, 3),
            store.search(vector, 12),  # past PostgreSQL's ef_search
            store.search(vector, 4, SearchFilter(doc_ids=["wal", "busy"])),
            store.search(vector, 4, SearchFilter(metadata={"d": "push"})),
            store.search_lexical(terms, 4),
            store.search_lexical(terms, 4, SearchFilter(doc_ids=["pragma"])),
            store.rank_both(vector, terms, 5),
            store.rank_both(vector, terms, 5, SearchFilter(doc_ids=["vacuum", "wal"])),
            store.ranked_hits(store.rank_both(vector, terms, 5)[1]),
            store.search_grouped(vector, 3, 1, 12),
            store.search_grouped(vector, 4, 2, 12, SearchFilter(doc_ids=["wal", "busy", "push"])),
        ]
    return found


async def _answers_async(search) -> list[object]:
    """:func:`_answers` through an asynchronous search."""
    found: list[object] = []
    for question in QUESTIONS:
        vector, terms = EMBEDDER.embed_one(question), query_vector(question)
        found += [
            await search.search(vector, 3),
            await search.search(vector, 12),
            await search.search(vector, 4, SearchFilter(doc_ids=["wal", "busy"])),
            await search.search(vector, 4, SearchFilter(metadata={"d": "push"})),
            await search.search_lexical(terms, 4),
            await search.search_lexical(terms, 4, SearchFilter(doc_ids=["pragma"])),
            await search.rank_both(vector, terms, 5),
            await search.rank_both(vector, terms, 5, SearchFilter(doc_ids=["vacuum", "wal"])),
            await search.ranked_hits((await search.rank_both(vector, terms, 5))[1]),
            await search.search_grouped(vector, 3, 1, 12),
            await search.search_grouped(vector, 4, 2, 12, SearchFilter(doc_ids=["wal", "busy", "push"])),
        ]
    return found


def _ranked(answer: object) -> object:
    if isinstance(answer, tuple):
        return tuple(_ranked(part) for part in answer)
    if answer and isinstance(answer[0], RankedChunk):
        return [(chunk.id, round(chunk.score, 5)) for chunk in answer]
    return [(hit.id, hit.doc_id, hit.seq, hit.text, round(hit.score, 5), hit.model) for hit in answer]


def test_postgres_answers_on_the_loop_as_the_blocking_store_does(filled) -> None:
    pg, _ = filled
    blocking = _answers(pg)
    assert any(blocking)
    asynchronous = run_blocking(_answers_async(pg.async_search()))
    assert [_ranked(a) for a in asynchronous] == [_ranked(b) for b in blocking]
    ids = [hit.id for hit in blocking[0]]
    assert run_blocking(pg.async_search().chunk_texts(ids)) == pg.chunk_texts(ids)


@pytest.mark.parametrize("per_document", [1, 2])
def test_a_store_groups_by_document_as_the_retriever_would(filled, per_document: int) -> None:
    """PostgreSQL groups in SQL, Qdrant after its search; both keep what ``at_most_per_document`` keeps of
    the same candidates, in the same order."""
    for store in filled:
        for question in [*QUESTIONS, *LEXICAL_TEXTS.values()]:
            vector = EMBEDDER.embed_one(question)
            for flt in (None, SearchFilter(doc_ids=["wal", "busy", "push"])):
                expected = at_most_per_document(store.search(vector, 10, flt), per_document)[:4]
                assert _ranked(store.search_grouped(vector, 4, per_document, 10, flt)) == _ranked(expected)
                if per_document == 1:
                    assert len({hit.doc_id for hit in expected}) == len(expected)


def test_postgres_reads_again_only_the_rows_it_answers_with(filled) -> None:
    """A grouped search reads its candidates narrow (id, document, distance); only the k it answers with are
    read again for their text and metadata, not every candidate."""
    pg, _ = filled
    statement = pg._search.statements.grouped(EMBEDDER.embed_one(QUESTIONS[1]), 2, 1, 12, None)
    with pg._pool.connection("test") as conn, conn.transaction():
        for setting in statement.settings:
            conn.execute(setting)
        conn.execute("SET LOCAL enable_seqscan = off")  # a table this small is read whole, not looked up
        explain = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + sql.SQL(statement.statement.as_string(conn))
        ((plan,),) = conn.execute(explain, statement.params).fetchall()
    (lookups,) = _primary_key_lookups(plan[0]["Plan"])
    assert lookups == 2, plan  # of 5 candidates (one per document) and 12 found


def _primary_key_lookups(plan: dict[str, Any]) -> list[int]:
    """Rows found by each scan of the chunks' primary key in ``plan`` (its loops times its rows)."""
    found = []
    if plan.get("Index Name", "").endswith("_pkey"):
        found.append(plan["Actual Loops"] * plan["Actual Rows"])
    for child in plan.get("Plans", []):
        found += _primary_key_lookups(child)
    return found


def test_a_qdrant_server_answers_the_asynchronous_client_as_local_mode_does(filled, server) -> None:
    _, local = filled
    remote, rest = server
    blocking = _answers(local)
    asynchronous = run_blocking(_answers_async(remote.async_search()))
    assert [_ranked(a) for a in asynchronous] == [_ranked(b) for b in blocking]
    assert rest.requests["query_batch"] == len(blocking)  # one request per search, both signals in one
    ids = [hit.id for hit in blocking[0]]
    assert run_blocking(remote.async_search().chunk_texts(ids)) == local.chunk_texts(ids)
    assert rest.requests["collection"] == 1  # the lexical vectors asked about once


def test_a_server_collection_without_lexical_vectors_says_so(filled, server, collection) -> None:
    _, local = filled
    remote, _ = server
    local.drop()
    with local._qdrant.call("test") as client:  # as an older Faro made it: one dense vector
        client.create_collection(
            local.name,
            vectors_config=models.VectorParams(size=collection.dimension, distance=models.Distance.COSINE),
        )
    with pytest.raises(LexicalIndexMissing):
        run_blocking(remote.async_search().search_lexical(query_vector("wal"), 3))


def test_postgres_on_the_loop_survives_connections_the_server_dropped(
    postgres_config: PostgresConfig, collection: CollectionConfig, make_chunks, make_record
) -> None:
    store = PgVectorStore(postgres_config.model_copy(update={"pool_size": 1, "ef_search": 4}), collection)
    try:
        store.ensure_schema()
        chunks = make_chunks("a", 20, dimension=collection.dimension)
        store.write_document(make_record(chunks), chunks)
        search = store.async_search()
        for chunk in (chunks[3], chunks[5]):
            assert run_blocking(search.search(chunk.embedding, 1))[0].id == chunk.id
            assert drop_connections(postgres_config.dsn.get_secret_value(), collection.name)
        hits = run_blocking(search.search(chunks[7].embedding, 10, SearchFilter(doc_ids=["a"])))
        assert len(hits) == 10 and hits[0].id == chunks[7].id
    finally:
        store.close()


def _retriever(pg: PgVectorStore, qdrant: QdrantStore, timeout: float = 1.0) -> Retriever:
    config = QueryConfig(qdrant_timeout_seconds=timeout, breaker_failures=100, default_mode=SearchMode.HYBRID)
    return Retriever.over(EMBEDDER, pg, qdrant, config)


def test_the_query_service_answers_from_a_qdrant_server_and_falls_back_when_it_is_slow(
    filled, server, collection: CollectionConfig, postgres_config: PostgresConfig
) -> None:
    pg, _ = filled
    remote, rest = server
    # Generous for a loaded machine (the first answer opens the client and reads the collection's layout);
    # the hung server below is slower still.
    retriever = _retriever(pg, remote, timeout=2.0)
    settings = FaroSettings(
        collection=collection,
        postgres=postgres_config,
        qdrant=QdrantConfig(url=rest.url),
        embedding={"dimension": collection.dimension},  # type: ignore[arg-type]
    )
    with TestClient(build_query_app(settings, retriever, pg, remote)) as client:
        body = {"query": "checkpoint the wal file", "top_k": 2, "neighbours": 1}
        fast = client.post("/v1/query", json=body).json()
        assert fast["backend"] == "qdrant" and fast["mode"] == "hybrid"
        assert fast["hits"][0]["doc_id"] == "wal" and fast["hits"][0]["neighbours"][0]["seq"] == 1
        rest.delay = 5.0  # a hung server: the answer comes from PostgreSQL within the timeout
        slow = client.post("/v1/query", json=body).json()
        assert (slow["backend"], slow["fallback_reason"]) == ("postgres", "timeout")
        assert [(h["doc_id"], h["seq"]) for h in slow["hits"]] == [
            (h["doc_id"], h["seq"]) for h in fast["hits"]
        ]


def test_an_absent_qdrant_server_is_a_fallback(filled, collection: CollectionConfig) -> None:
    pg, _ = filled
    from faro_workloads.background_server import free_port

    absent = QdrantStore(QdrantConfig(url=f"http://127.0.0.1:{free_port()}", timeout_seconds=1), collection)
    try:
        answer = _retriever(pg, absent).query("busy timeout", 1)
        assert (answer.backend, answer.fallback_reason) == (Backend.POSTGRES, "error")
        assert answer.hits[0].doc_id == "busy"
    finally:
        absent.close()


def test_a_collection_made_on_a_server_is_laid_out_as_configured(collection: CollectionConfig) -> None:
    """Shards, replication and write consistency reach Qdrant's create call (a cluster spreads them)."""
    from qdrant_client import QdrantClient

    local = QdrantClient(location=":memory:")
    with serving_qdrant_rest(local) as (url, rest):
        config = QdrantConfig(url=url, shards=6, replication_factor=3, write_consistency_factor=2)
        store = QdrantStore(config, collection)
        try:
            store.ensure_collection()
            store.ensure_collection()  # exists now: not created twice
        finally:
            store.close()
    created = rest.created[store.name]
    assert (created.shard_number, created.replication_factor, created.write_consistency_factor) == (6, 3, 2)
    assert rest.requests["create"] == 1
    # the doc_id and tenant payload indexes; the tenant's asked again of an existing collection (one made
    # before tenants gets it then)
    tenant = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
    assert [(i.field_name, i.field_schema) for i in rest.indexes[store.name]] == [
        ("doc_id", models.PayloadSchemaType.KEYWORD),
        (f"metadata.{TENANT_KEY}", tenant),
        (f"metadata.{TENANT_KEY}", tenant),
    ]
    assert local.collection_exists(store.name)


def test_searches_go_to_the_read_endpoint_when_one_is_given(
    postgres_config: PostgresConfig, collection: CollectionConfig, make_chunks, make_record
) -> None:
    """A read replica stands in as the same server reached under another application name, read-only."""
    import psycopg
    from psycopg.conninfo import make_conninfo
    from pydantic import SecretStr

    primary = postgres_config.dsn.get_secret_value()
    replica = make_conninfo(
        primary, application_name="faro-replica", options="-c default_transaction_read_only=on"
    )
    store = PgVectorStore(postgres_config.model_copy(update={"read_dsn": SecretStr(replica)}), collection)
    try:
        store.ensure_schema()  # writes: the primary
        chunks = make_chunks("a", 4, dimension=collection.dimension)
        store.write_document(make_record(chunks), chunks)
        hits = run_blocking(store.async_search().search(chunks[2].embedding, 1))
        assert [hit.id for hit in hits] == [chunks[2].id]
        with psycopg.connect(primary, autocommit=True) as admin:
            searched_on = admin.execute(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                (f"%{collection.name}_chunks%ORDER BY%",),
            ).fetchall()
        assert {name for (name,) in searched_on} == {"faro-replica"}
    finally:
        store.close()
