"""The cluster data path on real parts, in one process: chunking service -> S3 (moto) -> bucket notification
-> SQS -> embedding engine worker -> PostgreSQL (pgserver) + Qdrant (local mode) -> query service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr

from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.settings import AuthConfig, ChunkingConfig, EmbeddingConfig, FaroSettings
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.documents import CONTEXT_KEY, content_hash, embedded_text
from faro_workloads.core.embedding import build_embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.model_server import build_model_server
from faro_workloads.core.retrieval import Backend
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.data_plane import DataPlane
from faro_workloads.dead_letters import DeadLetterQueue
from faro_workloads.embedder_worker import EmbedderWorker
from faro_workloads.services.chunker import build_chunker_app
from faro_workloads.services.query import build_query_app

from support.polling import wait_for

pytestmark = pytest.mark.integration

DIMENSION = 64
GUIDE = "# Runbook\n\n## Outbox\n\nThe outbox holds pending Qdrant writes.\n\n## Alerts\n\nPage on drift.\n"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def plane(pg_store_factory, qdrant_store_factory) -> Iterator[DataPlane]:
    pg = pg_store_factory(dimension=DIMENSION)
    qdrant = qdrant_store_factory(pg.collection)
    data_plane = DataPlane(pg, qdrant, HashingEmbedder(dimension=DIMENSION))
    yield data_plane
    data_plane.close()


@pytest.fixture
def settings(aws_pipeline) -> FaroSettings:
    return FaroSettings(
        pipeline=aws_pipeline.pipeline,
        s3=aws_pipeline.s3_config,
        sqs=aws_pipeline.sqs_config,
        chunking=ChunkingConfig(strategy="markdown", size=64, overlap=8),
        auth=AuthConfig(api_key=SecretStr("s3cret")),
    )


@pytest.fixture
def chunker(settings: FaroSettings, aws_pipeline, plane: DataPlane) -> Iterator[TestClient]:
    # As the legacy query key is rendered: the query service's only; the documents API open on purpose here.
    open_documents = settings.model_copy(update={"auth": AuthConfig(anonymous=True)})
    with TestClient(build_chunker_app(open_documents, aws_pipeline.s3, evidence=plane.pg)) as client:
        yield client


@contextmanager
def running_worker(
    aws_pipeline, plane: DataPlane, embedder_ingest=None, bucket: str | None = None
) -> Iterator[EmbedderWorker]:
    """The embedding engine's worker on the pipeline's queue, reading ``bucket`` (default: the pipeline's)."""
    store = S3ChunkStore(
        aws_pipeline.s3,
        bucket or aws_pipeline.s3_config.bucket,
        ChunkObjectLayout("faro", aws_pipeline.pipeline),
    )
    worker = EmbedderWorker(
        aws_pipeline.sqs, store, embedder_ingest or plane.ingest, aws_pipeline.sqs_config, failures=plane.pg
    )
    thread = threading.Thread(target=worker.run, kwargs={"shutdown_grace_seconds": 15}, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=40)
        assert not thread.is_alive(), "worker did not stop"


def test_upload_flows_through_s3_and_sqs_into_both_stores_and_is_queryable(
    settings: FaroSettings, chunker: TestClient, plane: DataPlane, aws_pipeline
) -> None:
    accepted = chunker.post(
        "/v1/documents", json={"doc_id": "ops/runbook", "text": GUIDE, "format": "markdown"}
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "accepted" and accepted.json()["chunks"] == 3
    layout = ChunkObjectLayout("faro", aws_pipeline.pipeline)
    listed = aws_pipeline.s3.list_objects_v2(Bucket=aws_pipeline.s3_config.bucket)["Contents"]
    assert [item["Key"] for item in listed] == [layout.document_key("ops/runbook")]

    with running_worker(aws_pipeline, plane):
        wait_for(lambda: plane.pg.count() == 3 and plane.qdrant.count() == 3, what="both stores")
        stored = chunker.get("/v1/documents/ops/runbook").json()
        assert (stored["chunks"], stored["state"]) == (3, "searchable")
        assert stored["indexed_content_hash"] == stored["content_hash"] == accepted.json()["content_hash"]

        with TestClient(build_query_app(settings, plane.retriever, plane.pg, plane.qdrant)) as query:
            assert query.post("/v1/query", json={"query": "outbox"}).status_code == 401
            wrong = query.post("/v1/query", json={"query": "outbox"}, headers={"Authorization": "Bearer no"})
            assert wrong.status_code == 401
            answer = query.post(
                "/v1/query",
                json={"query": "pending qdrant writes", "top_k": 1},
                headers={"Authorization": "Bearer s3cret"},
            ).json()
            assert answer["backend"] == "qdrant"
            assert answer["hits"][0]["doc_id"] == "ops/runbook"
            assert answer["hits"][0]["metadata"]["headings"] == ["Runbook", "Outbox"]
            assert query.get("/healthz").status_code == 200 and query.get("/metrics").status_code == 200

        unchanged = chunker.post(
            "/v1/documents", json={"doc_id": "ops/runbook", "text": GUIDE, "format": "markdown"}
        )
        assert unchanged.status_code == 200 and unchanged.json()["status"] == "unchanged"

        assert chunker.delete("/v1/documents/ops/runbook").status_code == 202
        wait_for(lambda: plane.pg.count() == 0 and plane.qdrant.count() == 0, what="delete to propagate")
        assert plane.pg.get_document("ops/runbook") is None
        gone = chunker.get("/v1/documents/ops/runbook")
        assert gone.status_code == 410 and gone.json()["state"] == "deleted"
        assert (gone.json()["content_hash"], gone.json()["chunks"]) == (None, None)
        assert chunker.get("/v1/documents/never-uploaded").status_code == 404
        wait_for(lambda: aws_pipeline.queue_depth(aws_pipeline.sqs_config.queue_url) == 0, what="empty queue")
    assert aws_pipeline.queue_depth(aws_pipeline.sqs_config.dead_letter_queue_url) == 0


def test_reupload_with_new_metadata_or_new_content_replaces_the_chunks(
    chunker: TestClient, plane: DataPlane, aws_pipeline
) -> None:
    with running_worker(aws_pipeline, plane):
        chunker.post("/v1/documents", json={"doc_id": "d", "text": GUIDE, "format": "markdown"})
        wait_for(lambda: plane.pg.count() == 3, what="first version")
        relabelled = {"doc_id": "d", "text": GUIDE, "format": "markdown", "metadata": {"team": "b"}}
        assert chunker.post("/v1/documents", json=relabelled).json()["status"] == "accepted"
        wait_for(
            lambda: (
                {c.metadata.get("team") for c in plane.pg.fetch_chunks(list(plane.pg.all_ids()))} == {"b"}
            ),
            what="the new metadata on every chunk",
        )
        assert chunker.post("/v1/documents", json=relabelled).json()["status"] == "unchanged"
        chunker.post(
            "/v1/documents", json={"doc_id": "d", "text": "# One\n\nShort now.", "format": "markdown"}
        )
        wait_for(lambda: plane.pg.count() == 1 and plane.qdrant.count() == 1, what="replacement")
    assert plane.pg.fetch_chunks(list(plane.pg.all_ids()))[0].text.startswith("# One")


def test_a_chunking_change_rewrites_the_chunk_object_and_reembeds_the_same_content(
    settings: FaroSettings, chunker: TestClient, plane: DataPlane, aws_pipeline
) -> None:
    upload = {"doc_id": "d", "text": GUIDE, "format": "markdown"}
    with running_worker(aws_pipeline, plane):
        assert chunker.post("/v1/documents", json=upload).json()["status"] == "accepted"
        wait_for(lambda: plane.pg.count() == 3, what="first cut")
        first = plane.pg.get_document("d")
        assert first is not None and first.profile
        kept = plane.pg.get_texts(["d"])["d"]  # the embedder keeps the text the chunker extracted
        assert (kept.fmt, kept.content_hash, content_hash(kept.text)) == ("markdown",) + (
            first.content_hash,
        ) * 2
        assert "Outbox" in kept.text

        recut = settings.model_copy(
            update={
                "chunking": ChunkingConfig(strategy="fixed", size=16, overlap=0),
                "auth": AuthConfig(anonymous=True),
            }
        )
        with TestClient(build_chunker_app(recut, aws_pipeline.s3)) as other_chunker:
            again = other_chunker.post("/v1/documents", json=upload).json()
        assert again["status"] == "accepted" and again["chunks"] != 3  # same text, cut another way
        wait_for(lambda: plane.pg.get_document("d").profile != first.profile, what="second cut")  # type: ignore[union-attr]
        second = plane.pg.get_document("d")
        assert second is not None and second.content_hash == first.content_hash
        assert plane.pg.count() == second.chunk_count == again["chunks"]
        wait_for(lambda: plane.qdrant.count() == again["chunks"], what="qdrant to follow")


def test_poison_messages_go_to_the_dead_letter_queue_and_the_worker_keeps_going(
    chunker: TestClient, plane: DataPlane, aws_pipeline
) -> None:
    layout = ChunkObjectLayout("faro", aws_pipeline.pipeline)
    sqs, queue = aws_pipeline.sqs, aws_pipeline.sqs_config.queue_url
    sqs.send_message(QueueUrl=queue, MessageBody="this is not an S3 event")
    missing = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": aws_pipeline.s3_config.bucket},
                    "object": {"key": layout.document_key("never/uploaded")},
                },
            }
        ]
    }
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(missing))
    before = metric("faro_sqs_messages_total", result="dead_lettered")

    with running_worker(aws_pipeline, plane):
        chunker.post("/v1/documents", json={"doc_id": "good", "text": "A healthy document."})
        wait_for(lambda: plane.pg.count() == 1, what="the good document")
        wait_for(
            lambda: aws_pipeline.queue_depth(aws_pipeline.sqs_config.dead_letter_queue_url) == 2,
            timeout=60,
            what="both poison messages in the DLQ",
        )
    dead = sqs.receive_message(
        QueueUrl=aws_pipeline.sqs_config.dead_letter_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    )["Messages"]
    errors = sorted(m["MessageAttributes"]["faro-error"]["StringValue"] for m in dead)
    assert errors[0].startswith("chunk object") and "does not exist" in errors[0]
    assert "not JSON" in errors[1]
    assert all(m["MessageAttributes"]["faro-receives"]["StringValue"] == "3" for m in dead)
    assert metric("faro_sqs_messages_total", result="dead_lettered") - before == 2
    assert aws_pipeline.queue_depth(queue) == 0


def faro_dlq(aws_pipeline, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """``faro dlq ARGS`` with the environment the embedding engine has (its queues, prefix and pipeline)."""
    sqs = aws_pipeline.sqs_config
    env = {
        **os.environ,
        "FARO_PIPELINE": aws_pipeline.pipeline,
        "FARO_S3__PREFIX": "faro",
        "FARO_SQS__QUEUE_URL": sqs.queue_url,
        "FARO_SQS__DEAD_LETTER_QUEUE_URL": sqs.dead_letter_queue_url,
        "FARO_SQS__ENDPOINT_URL": sqs.endpoint_url,
    }
    command = [sys.executable, "-m", "faro_workloads.cli", "dlq", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)


def test_dead_letters_are_listed_with_their_reason_and_redriven_after_the_fix(
    chunker: TestClient, plane: DataPlane, aws_pipeline
) -> None:
    dlq_url = aws_pipeline.sqs_config.dead_letter_queue_url
    for doc_id in ("guides/a", "guides/b"):
        chunker.post("/v1/documents", json={"doc_id": doc_id, "text": f"{doc_id}: restart the workers."})
    queued = chunker.get("/v1/documents/guides/a").json()
    assert (queued["state"], queued["indexed_content_hash"], queued["chunks"]) == ("accepted", None, 1)
    with running_worker(aws_pipeline, plane, bucket="another-bucket"):  # a deploy with the wrong bucket
        wait_for(lambda: aws_pipeline.queue_depth(dlq_url) == 2, timeout=60, what="both dead-lettered")
        wait_for(
            lambda: chunker.get("/v1/documents/guides/b").json()["state"] == "failed", what="guides/b marked"
        )
    failed = chunker.get("/v1/documents/guides/a").json()
    assert failed["state"] == "failed"
    assert failed["reason"].startswith("dead-lettered after 3 receives: event for bucket")
    assert "this pipeline reads 'another-bucket'" in failed["reason"]
    page = chunker.get("/v1/documents").json()["documents"]
    assert [(d["doc_id"], d["state"]) for d in page] == [("guides/a", "failed"), ("guides/b", "failed")]
    layout = ChunkObjectLayout("faro", aws_pipeline.pipeline)
    queue = DeadLetterQueue(aws_pipeline.sqs, aws_pipeline.sqs_config.queue_url, dlq_url, layout)

    letters = queue.list()

    assert sorted(letter.document for letter in letters) == ["guides/a", "guides/b"]
    assert all(
        letter.receives == 3 and "this pipeline reads 'another-bucket'" in letter.error for letter in letters
    )
    assert aws_pipeline.queue_depth(dlq_url) == 2  # listing consumed nothing
    listed = faro_dlq(aws_pipeline, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(row["document"] for row in rows) == ["guides/a", "guides/b"]
    table = faro_dlq(aws_pipeline, "list")
    assert "guides/a" in table.stdout and "2 dead letters" in table.stdout

    with running_worker(aws_pipeline, plane):  # fixed
        one = faro_dlq(aws_pipeline, "redrive", "--document", "guides/a")
        assert one.returncode == 0 and "1 sent back to the main queue, 1 left" in one.stdout, one.stderr
        wait_for(lambda: plane.pg.get_document("guides/a") is not None, what="guides/a embedded")
        assert plane.pg.get_document("guides/b") is None
        nothing = faro_dlq(aws_pipeline, "redrive", "no-such-message")
        assert nothing.returncode == 1 and "no dead letter matched (1 left" in nothing.stderr
        rest = faro_dlq(aws_pipeline, "redrive", "--all")
        assert rest.returncode == 0 and "1 sent back" in rest.stdout, rest.stderr
        wait_for(lambda: plane.pg.get_document("guides/b") is not None, what="guides/b embedded")
        wait_for(
            lambda: chunker.get("/v1/documents/guides/b").json()["state"] == "searchable", what="searchable"
        )
    assert chunker.get("/v1/documents/guides/a").json()["reason"] is None
    assert aws_pipeline.queue_depth(dlq_url) == 0
    assert plane.qdrant.count() == plane.pg.count() > 0


def test_visibility_is_extended_while_a_slow_document_is_embedded(
    chunker: TestClient, plane: DataPlane, aws_pipeline
) -> None:
    """Embedding takes longer than the visibility timeout: the heartbeat keeps the message invisible, so it
    is processed once, not redelivered to a second consumer mid-way."""
    calls: list[str] = []

    class SlowIngest:
        def __init__(self, inner) -> None:
            self._inner = inner

        def ingest_chunks(self, *args, **kwargs):
            calls.append(args[0])
            time.sleep(aws_pipeline.sqs_config.visibility_timeout_seconds * 1.6)
            return self._inner.ingest_chunks(*args, **kwargs)

        def delete(self, doc_id: str, **kwargs) -> bool:
            return self._inner.delete(doc_id, **kwargs)

    extensions = metric("faro_sqs_visibility_extensions_total")
    with running_worker(aws_pipeline, plane, embedder_ingest=SlowIngest(plane.ingest)):
        chunker.post("/v1/documents", json={"doc_id": "slow", "text": "Takes a while to embed."})
        wait_for(lambda: plane.pg.count() == 1, timeout=60, what="the slow document")
        wait_for(lambda: aws_pipeline.queue_depth(aws_pipeline.sqs_config.queue_url) == 0, what="ack")
    assert calls == ["slow"]
    assert metric("faro_sqs_visibility_extensions_total") > extensions


def test_stop_finishes_in_flight_work_and_returns(
    chunker: TestClient, plane: DataPlane, aws_pipeline
) -> None:
    started = threading.Event()

    class GatedIngest:
        def __init__(self, inner) -> None:
            self._inner = inner

        def ingest_chunks(self, *args, **kwargs):
            started.set()
            time.sleep(1.0)
            return self._inner.ingest_chunks(*args, **kwargs)

        def delete(self, doc_id: str, **kwargs) -> bool:
            return self._inner.delete(doc_id, **kwargs)

    with running_worker(aws_pipeline, plane, embedder_ingest=GatedIngest(plane.ingest)) as worker:
        chunker.post("/v1/documents", json={"doc_id": "inflight", "text": "Finished before stopping."})
        assert started.wait(30)
        worker.stop()  # while the document is in flight
    assert plane.pg.count() == 1
    assert aws_pipeline.queue_depth(aws_pipeline.sqs_config.queue_url) == 0


def test_full_path_with_embeddings_through_the_portkey_gateway(
    settings: FaroSettings,
    chunker: TestClient,
    pg_store_factory,
    qdrant_store_factory,
    aws_pipeline,
    portkey_gateway: str,
) -> None:
    """upload -> chunk object in S3 -> ObjectCreated -> SQS -> worker -> npm Portkey gateway -> model
    server -> PostgreSQL + Qdrant -> query; then the delete propagates the same way."""
    model = HashingEmbedder(dimension=DIMENSION, model="hash-64")
    model_server = BackgroundServer(build_model_server(model), "127.0.0.1", free_port())
    model_server.start()
    embedding = EmbeddingConfig(
        kind="portkey",
        model="hash-64",
        dimension=DIMENSION,
        batch_size=8,
        gateway_url=f"{portkey_gateway}/v1",
        provider="openai",
        custom_host=f"{model_server.url}/v1",
        api_key=SecretStr("local"),
    )
    gateway_embedder = build_embedder(embedding)
    pg = pg_store_factory(dimension=DIMENSION)
    gateway_plane = DataPlane(pg, qdrant_store_factory(pg.collection), gateway_embedder)
    try:
        with running_worker(aws_pipeline, gateway_plane):
            chunker.post("/v1/documents", json={"doc_id": "ops/runbook", "text": GUIDE, "format": "markdown"})
            wait_for(lambda: gateway_plane.qdrant.count() == 3 and pg.count() == 3, what="both stores")
            stored = pg.fetch_chunks(list(pg.all_ids()))
            assert {c.model for c in stored} == {"hash-64"}
            for chunk in stored:  # the vectors are the model's, carried through the gateway unchanged
                sent = embedded_text(chunk.metadata.get(CONTEXT_KEY, ""), chunk.text)  # heading path + text
                np.testing.assert_allclose(chunk.embedding, model.embed_one(sent), rtol=1e-5, atol=1e-6)
            answer = gateway_plane.retriever.query("pending qdrant writes", 1, None, Backend.AUTO)
            assert answer.backend is Backend.QDRANT and answer.hits[0].doc_id == "ops/runbook"

            assert chunker.delete("/v1/documents/ops/runbook").status_code == 202
            wait_for(lambda: pg.count() == 0 and gateway_plane.qdrant.count() == 0, what="the delete")
    finally:
        gateway_plane.close()
        gateway_embedder.close()
        model_server.stop()
