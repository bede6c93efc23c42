"""The embedding engine's verdict on a failed message, without SQS, S3 or PostgreSQL: a poison message is
retried with backoff and dead-lettered on its ``max_receives``-th receive; a transient failure (PostgreSQL
or the embedding gateway down) is retried and never dead-lettered; a good one is stored and deleted.

The worker runs (``run``) over a scripted queue, in-memory chunk objects and the real ingest service over
fake stores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import pytest

from faro_workloads.contract.settings import ChunkingConfig, SQSConfig
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding import EmbeddingError
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IngestService
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.embedder_worker import EmbedderWorker

from support.fake_stores import FakeChunkObjects, FakePostgres, FakeQdrant

BUCKET = "faro-chunks"
LAYOUT = ChunkObjectLayout("chunks", "demo")
QUEUE, DEAD_LETTERS = "https://sqs.test/queue", "https://sqs.test/dead-letters"
MAX_RECEIVES = 3


class ScriptedQueue:
    """An SQS client that hands out ``messages`` once, then stops the worker on its next receive, and
    records what the worker did with them."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.pending = messages
        self.on_empty: Callable[[], None] = lambda: None
        self.deleted: list[str] = []
        self.visibility: list[tuple[str, int]] = []
        self.dead_lettered: list[dict[str, Any]] = []

    # boto3's keyword arguments, as the worker passes them
    def receive_message(self, **request: Any) -> dict[str, Any]:
        size = request["MaxNumberOfMessages"]
        taken, self.pending = self.pending[:size], self.pending[size:]
        if not taken:
            self.on_empty()
        return {"Messages": taken}

    def delete_message(self, **request: Any) -> None:
        assert request["QueueUrl"] == QUEUE
        self.deleted.append(request["ReceiptHandle"])

    def change_message_visibility(self, **request: Any) -> None:
        self.visibility.append((request["ReceiptHandle"], request["VisibilityTimeout"]))

    def send_message(self, **request: Any) -> None:
        assert request["QueueUrl"] == DEAD_LETTERS
        self.dead_lettered.append({"body": request["MessageBody"], **request["MessageAttributes"]})

    def get_queue_attributes(self, **request: Any) -> dict[str, Any]:
        return {"Attributes": {"ApproximateNumberOfMessages": "0"}}


class WrongDimensionEmbedder(HashingEmbedder):
    """A model that answers with vectors one wider than the collection's."""

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), self.dimension + 1), dtype=np.float32)


class GatewayDownEmbedder(HashingEmbedder):
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        raise EmbeddingError("the embedding gateway answered 503 five times")


@dataclass
class Engine:
    pg: FakePostgres
    objects: FakeChunkObjects

    def run(self, messages: list[dict[str, Any]], embedder: HashingEmbedder | None = None) -> ScriptedQueue:
        """Run a worker until it has handled ``messages``; the queue records the outcome."""
        qdrant = FakeQdrant()
        writer = DualWriter(self.pg, qdrant, OutboxDrainer(self.pg, qdrant))
        chunker = Chunker(ChunkingConfig(tokenizer="chars"))
        ingest = IngestService(chunker, embedder or HashingEmbedder(dimension=16), self.pg, writer)
        queue = ScriptedQueue(messages)
        config = SQSConfig(
            queue_url=QUEUE,
            dead_letter_queue_url=DEAD_LETTERS,
            max_receives=MAX_RECEIVES,
            wait_seconds=0,
            visibility_timeout_seconds=30,
        )
        worker = EmbedderWorker(queue, self.objects, ingest, config)
        queue.on_empty = worker.stop
        worker.run(shutdown_grace_seconds=10)
        return queue


@pytest.fixture
def engine() -> Engine:
    return Engine(FakePostgres(), FakeChunkObjects(BUCKET, LAYOUT))


def _chunk_object(doc_id: str = "guide") -> ChunkObject:
    spans = [ChunkSpan("Faro keeps documents.", 0, 21), ChunkSpan("Qdrant holds a copy.", 22, 42)]
    return ChunkObject("demo", doc_id, f"hash-{doc_id}", "upload", {}, spans)


def _created(key: str, bucket: str = BUCKET) -> str:
    record = {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
    return json.dumps({"Records": [record]})


def _message(body: str, receives: int = 1) -> dict[str, Any]:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": str(receives)},
    }


def test_a_chunk_object_is_stored_and_its_message_deleted(engine: Engine) -> None:
    key = engine.objects.put(_chunk_object())

    queue = engine.run([_message(_created(key))])

    assert queue.deleted == ["r-1"]
    assert queue.dead_lettered == []
    assert engine.pg.documents["guide"].chunk_count == 2


POISON: dict[str, Callable[[Engine], str]] = {
    "not-json": lambda _engine: "{not json",
    "no-records": lambda _engine: json.dumps({"Records": []}),
    "another-bucket": lambda engine: _created(engine.objects.put(_chunk_object()), bucket="elsewhere"),
    "foreign-key": lambda _engine: _created("elsewhere/readme.json"),
    "missing-object": lambda _engine: _created(LAYOUT.document_key("gone")),
    "malformed-object": lambda engine: _created(_put_raw(engine, LAYOUT.document_key("bad"), b"{}")),
    "object-names-another-document": lambda engine: _created(
        _put_raw(engine, LAYOUT.document_key("one"), _chunk_object("two").to_json_bytes())
    ),
}


def _put_raw(engine: Engine, key: str, data: bytes) -> str:
    engine.objects.objects[key] = data
    return key


@pytest.mark.parametrize("cause", sorted(POISON))
def test_a_poison_message_is_retried_with_backoff_before_its_last_receive(engine: Engine, cause: str) -> None:
    queue = engine.run([_message(POISON[cause](engine), receives=2)])

    assert queue.visibility[-1] == ("r-1", 2)  # visible again after 2 ** (receives - 1) seconds
    assert queue.deleted == []
    assert queue.dead_lettered == []


@pytest.mark.parametrize("cause", sorted(POISON))
def test_a_poison_message_is_dead_lettered_on_its_last_receive(engine: Engine, cause: str) -> None:
    body = POISON[cause](engine)

    queue = engine.run([_message(body, receives=MAX_RECEIVES)])

    assert queue.deleted == ["r-1"]
    [dead] = queue.dead_lettered
    assert dead["body"] == body
    assert dead["faro-receives"]["StringValue"] == str(MAX_RECEIVES)
    assert dead["faro-error"]["StringValue"]  # the reason travels with the message
    assert engine.pg.documents == {}


def test_a_model_answering_with_the_wrong_dimension_is_poison(engine: Engine) -> None:
    key = engine.objects.put(_chunk_object())

    queue = engine.run([_message(_created(key), receives=MAX_RECEIVES)], WrongDimensionEmbedder(dimension=16))

    assert [dead["faro-error"]["StringValue"] for dead in queue.dead_lettered] == [
        "model 'faro-hash-v1' returned 17-d vectors, the collection expects 16-d"
    ]


@pytest.mark.parametrize("outage", ["postgres", "embedding-gateway"])
def test_a_transient_failure_is_retried_and_never_dead_lettered(engine: Engine, outage: str) -> None:
    key = engine.objects.put(_chunk_object())
    embedder = None
    if outage == "postgres":
        engine.pg.failure = psycopg.OperationalError("connection refused")
    else:
        embedder = GatewayDownEmbedder(dimension=16)

    queue = engine.run([_message(_created(key), receives=MAX_RECEIVES + 5)], embedder)

    assert queue.dead_lettered == []
    assert queue.deleted == []
    assert queue.visibility[-1] == ("r-1", 30)  # backoff capped at the visibility timeout
