"""Faults in the embedding engine, run as users run it (`faro serve embedder` in its own process):
killed mid-batch, and PostgreSQL stopped during ingest. Nothing may be lost or stored twice."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.settings import (
    ChunkingConfig,
    CollectionConfig,
    EmbeddingConfig,
    FaroSettings,
    PostgresConfig,
    QdrantConfig,
)
from faro_workloads.core.documents import chunk_point_id
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.services.chunker import build_chunker_app

from support.model_servers import RecordingModelServer
from support.service_processes import engine_process, scraped, service_environment

pytestmark = pytest.mark.integration

DIMENSION = 32
MODEL = "hash-32"
CHUNKING = ChunkingConfig(strategy="recursive", size=16, overlap=0)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def model_server() -> Iterator[RecordingModelServer]:
    with RecordingModelServer(DIMENSION, MODEL, delay_seconds=0.25) as server:
        yield server


def embedder_env(
    aws, postgres: PostgresConfig, collection: CollectionConfig, qdrant_path: Path, model_url: str
) -> dict[str, str]:
    settings = FaroSettings(
        pipeline=aws.pipeline,
        s3=aws.s3_config,
        sqs=aws.sqs_config,
        postgres=postgres.model_copy(update={"connect_timeout_seconds": 2}),
        collection=collection,
        qdrant=QdrantConfig(path=str(qdrant_path)),
        embedding=EmbeddingConfig(
            kind="portkey",
            gateway_url=model_url,
            model=MODEL,
            dimension=DIMENSION,
            batch_size=4,
            api_key="local",
            max_attempts=2,
        ),
        # The chunking the chunker cuts with (the operator renders both services from one spec): the live
        # generation's, so the chunk objects' chunks are embedded as they are.
        chunking=CHUNKING,
    )
    return service_environment(settings)


def embedder_process(env: dict[str, str], log: Path):  # type: ignore[no-untyped-def]
    # A killed embedder (SIGKILL in a test) has no clean exit to check.
    return engine_process(env, log, expect_clean_exit=False)


def chunker_client(aws, chunking: ChunkingConfig) -> TestClient:
    settings = FaroSettings(pipeline=aws.pipeline, s3=aws.s3_config, chunking=chunking)
    return TestClient(build_chunker_app(settings, aws.s3))


def test_embedder_killed_mid_batch_redelivers_and_stores_every_chunk_exactly_once(
    aws_pipeline,
    postgres_config: PostgresConfig,
    collection_config: CollectionConfig,
    model_server: RecordingModelServer,
    tmp_path: Path,
) -> None:
    collection = collection_config.model_copy(update={"dimension": DIMENSION})
    qdrant_path = tmp_path / "qdrant"
    env = embedder_env(aws_pipeline, postgres_config, collection, qdrant_path, model_server.url)
    text = "\n\n".join(f"Paragraph {i} talks about topic number {i} in some detail." for i in range(40))
    with chunker_client(aws_pipeline, CHUNKING) as chunker:
        accepted = chunker.post("/v1/documents", json={"doc_id": "big", "text": text}).json()
    expected_chunks = accepted["chunks"]
    assert expected_chunks >= 20  # several embedding batches of 4

    log = tmp_path / "embedder.log"
    with embedder_process(env, log) as (process, _):
        wait_until(lambda: model_server.requests >= 2, 60, "the first embedding batches")
        process.kill()  # SIGKILL, mid-batch: no cleanup, no acknowledgement
        process.wait()
    requests_before_restart = model_server.requests
    pg = PgVectorStore(postgres_config, collection)
    try:
        assert pg.count() == 0  # the document's transaction never started

        with embedder_process(env, log) as (_, url):  # redelivered after the visibility timeout
            wait_until(lambda: pg.count() == expected_chunks, 60, "all chunks after redelivery")
            wait_until(lambda: aws_pipeline.queue_depth(aws_pipeline.sqs_config.queue_url) == 0, 30, "ack")
            assert scraped(url, 'faro_sqs_messages_total{result="processed"}') == 1
        assert model_server.requests > requests_before_restart
        expected_ids = {chunk_point_id("big", seq) for seq in range(expected_chunks)}
        assert pg.all_ids() == expected_ids
        assert pg.outbox_pending() == 0
    finally:
        pg.close()
    qdrant = QdrantStore(QdrantConfig(path=str(qdrant_path)), collection)
    try:
        assert {i for batch in qdrant.scroll_ids() for i in batch} == expected_ids
    finally:
        qdrant.close()
    assert aws_pipeline.queue_depth(aws_pipeline.sqs_config.dead_letter_queue_url) == 0


def test_postgres_down_during_ingest_acknowledges_nothing_and_loses_nothing(
    aws_pipeline, collection_config: CollectionConfig, tmp_path: Path
) -> None:
    import pgserver

    model = RecordingModelServer(DIMENSION, MODEL)
    model.server.start()
    data_dir = tempfile.mkdtemp(prefix="faro-pgdown-", dir="/tmp")
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    dsn = server.get_uri()
    postgres = PostgresConfig(dsn=dsn, schema_name="faults")
    collection = collection_config.model_copy(update={"dimension": DIMENSION})
    env = embedder_env(aws_pipeline, postgres, collection, tmp_path / "qdrant", model.url)
    documents = {f"doc-{i}": f"Document {i} survives a database outage." for i in range(5)}
    try:
        with embedder_process(env, tmp_path / "embedder.log") as (_, url):
            server.cleanup()  # PostgreSQL stops while the embedder runs
            with chunker_client(aws_pipeline, CHUNKING) as chunker:
                for doc_id, text in documents.items():
                    assert (
                        chunker.post("/v1/documents", json={"doc_id": doc_id, "text": text}).status_code
                        == 202
                    )
            wait_until(
                lambda: scraped(url, 'faro_sqs_messages_total{result="transient_error"}') >= 1,
                60,
                "ingest attempts failing on the stopped database",
            )
            assert aws_pipeline.queue_depth(aws_pipeline.sqs_config.queue_url) == len(documents)  # none acked
            assert scraped(url, 'faro_sqs_messages_total{result="processed"}') == 0

            server = pgserver.get_server(data_dir, cleanup_mode="stop")  # back up
            pg = PgVectorStore(postgres, collection)
            try:
                wait_until(lambda: pg.document_count() == len(documents), 90, "every document after restart")
                wait_until(
                    lambda: aws_pipeline.queue_depth(aws_pipeline.sqs_config.queue_url) == 0, 30, "acks"
                )
                assert {r.doc_id for r in pg.list_documents()} == set(documents)
            finally:
                pg.close()
        assert aws_pipeline.queue_depth(aws_pipeline.sqs_config.dead_letter_queue_url) == 0
    finally:
        server.cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)
        model.server.stop()
