"""N embedding engines on one queue, proven safe: three `faro serve embedder` processes consume one SQS queue
(moto) into one PostgreSQL and one Qdrant collection while the chunking service uploads 1,000 documents and
replaces and deletes some of them as their earlier versions are being embedded; one engine is stopped with
SIGTERM mid-run and a new one takes its place. The stores must end exactly as the chunking service
acknowledged last: no document lost, no chunk stored twice, no version overtaken by an older one.

Qdrant: local mode cannot be opened by several processes (it locks its folder), so the engines reach one
local-mode collection through a test Qdrant endpoint (tests/support/qdrant_rest.py: Qdrant's REST routes
answered by local mode, every request parsed with Qdrant's own models). It refuses every 7th write, so
outbox rows are left behind and the three engines' outbox drainers race to claim them.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

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

from support.model_servers import FixedLatencyModelServer
from support.polling import wait_for
from support.qdrant_rest import serving_qdrant_rest
from support.service_processes import engine_process, scraped, service_environment

pytestmark = pytest.mark.integration

DIMENSION = 32
MODEL = "remote-32"  # a remote model: 50 ms per embeddings request, so engines have work in flight
DOCUMENTS = 1_000
ENGINES = 3
GRACE = ("--shutdown-grace", "20")
CHUNKING = ChunkingConfig(strategy="recursive", size=24, overlap=0)
Expected = dict[str, tuple[str, int] | None]  # doc id -> (content hash, chunks) acknowledged last, or deleted


def _text(number: int, version: int) -> str:
    paragraphs = 1 + (number + version) % 3
    return "\n\n".join(
        f"Document {number}, version {version}, paragraph {p}: replicas share one queue and one database."
        for p in range(paragraphs)
    )


def _engine_env(
    aws, postgres: PostgresConfig, collection: CollectionConfig, qdrant_url: str, model_url: str
) -> dict[str, str]:
    settings = FaroSettings(
        pipeline=aws.pipeline,
        s3=aws.s3_config,
        sqs=aws.sqs_config.model_copy(update={"visibility_timeout_seconds": 10, "max_receives": 5}),
        postgres=postgres,
        collection=collection,
        qdrant=QdrantConfig(url=qdrant_url),
        embedding=EmbeddingConfig(
            kind="portkey", gateway_url=model_url, model=MODEL, dimension=DIMENSION, api_key="local"
        ),
        chunking=CHUNKING,
    )
    return service_environment(settings)


class Terminator(threading.Thread):
    """Sends SIGTERM to an engine once its metrics show messages in flight (or after ``timeout``);
    ``in_flight``: how many there were then."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, timeout: float = 30) -> None:
        super().__init__()
        self._process, self._url, self._timeout = process, url, timeout
        self.in_flight = 0.0

    def run(self) -> None:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            self.in_flight = scraped(self._url, "faro_embedder_inflight_messages")
            if self.in_flight >= 1:
                break
            time.sleep(0.005)
        self._process.send_signal(signal.SIGTERM)


class Uploads:
    """The chunking service in process, and what it acknowledged last for each document."""

    def __init__(self, client: TestClient) -> None:
        self._client = client
        self.expected: Expected = {}
        self.replaced = self.deleted = 0

    def put(self, number: int, version: int) -> None:
        doc_id = f"doc-{number:04d}"
        answer = self._client.post("/v1/documents", json={"doc_id": doc_id, "text": _text(number, version)})
        assert answer.status_code in (200, 201, 202), answer.text
        body = answer.json()
        self.replaced += doc_id in self.expected
        self.expected[doc_id] = (body["content_hash"], body["chunks"])

    def delete(self, number: int) -> None:
        doc_id = f"doc-{number:04d}"
        assert self._client.delete(f"/v1/documents/{doc_id}").status_code in (202, 204)
        self.deleted += 1
        self.expected[doc_id] = None


def _racing_schedule(uploads: Uploads, first: int, last: int, rng: random.Random) -> None:
    """Upload documents ``first..last-1``; after every few, replace or delete one uploaded moments ago (its
    earlier version is likely being embedded right now), and now and then upload a deleted one again."""
    for number in range(first, last):
        uploads.put(number, version=1)
        if number % 3 or number < 8:
            continue
        recent = rng.randrange(max(0, number - 8), number)
        doc_id = f"doc-{recent:04d}"
        if uploads.expected.get(doc_id) is None:
            uploads.put(recent, version=rng.randrange(10, 20))  # back after a delete
        elif rng.random() < 0.35:
            uploads.delete(recent)
        else:
            uploads.put(recent, version=rng.randrange(2, 10))


def test_three_engines_racing_replaces_and_deletes_end_exactly_as_acknowledged(
    aws_pipeline, postgres_config: PostgresConfig, collection_config: CollectionConfig, tmp_path: Path
) -> None:
    collection = collection_config.model_copy(update={"dimension": DIMENSION})
    qdrant_local = QdrantClient(location=":memory:")
    settings = FaroSettings(pipeline=aws_pipeline.pipeline, s3=aws_pipeline.s3_config, chunking=CHUNKING)
    rng = random.Random(7)
    with (
        FixedLatencyModelServer(DIMENSION, MODEL, latency_seconds=0.05) as model,
        serving_qdrant_rest(qdrant_local) as (qdrant_url, qdrant_rest),
        ExitStack() as engines,
    ):
        qdrant_rest.fail_every = 7
        env = _engine_env(aws_pipeline, postgres_config, collection, qdrant_url, model.url)
        running = [
            engines.enter_context(engine_process(env, tmp_path / f"engine-{n}.log", *GRACE))
            for n in range(ENGINES)
        ]
        with TestClient(build_chunker_app(settings, aws_pipeline.s3)) as chunker:
            uploads = Uploads(chunker)
            _racing_schedule(uploads, 0, DOCUMENTS // 2, rng)

            stopped, stopped_url = running[0]
            # mid-run, while the uploads go on: as soon as it is working on a message
            terminator = Terminator(stopped, stopped_url)
            terminator.start()
            _racing_schedule(uploads, DOCUMENTS // 2, DOCUMENTS * 3 // 4, rng)
            terminator.join(60)
            assert stopped.wait(timeout=60) == 0, (tmp_path / "engine-0.log").read_text()
            running[0] = engines.enter_context(engine_process(env, tmp_path / "engine-3.log", *GRACE))
            _racing_schedule(uploads, DOCUMENTS * 3 // 4, DOCUMENTS, rng)

        pg = PgVectorStore(postgres_config, collection)
        try:
            queue = aws_pipeline.sqs_config.queue_url
            wait_for(lambda: aws_pipeline.queue_depth(queue) == 0, 300, "every event handled and deleted")
            qdrant_rest.fail_every = 0
            wait_for(lambda: pg.outbox_pending() == 0, 60, "the outbox drained")
            reapplied = sum(scraped(url, "faro_documents_reapplied_total") for _, url in running)
            _assert_stores_hold_exactly(
                uploads.expected, pg, QdrantStore(QdrantConfig(url=qdrant_url), collection)
            )
        finally:
            pg.close()
    assert aws_pipeline.queue_depth(aws_pipeline.sqs_config.dead_letter_queue_url) == 0
    assert uploads.replaced >= 100 and uploads.deleted >= 50  # the schedule raced enough to mean something
    assert qdrant_rest.requests.get("refused", 0) > 0  # the drainers had rows to race for
    assert terminator.in_flight >= 1  # the engine was stopped while it worked
    assert reapplied > 0  # versions were overtaken while written (replicas raced), and followed
    print(f"replaced {uploads.replaced}, deleted {uploads.deleted}, re-applied after a race {reapplied:.0f}")
    print(f"SIGTERM came with {terminator.in_flight:.0f} message(s) in flight")


def _assert_stores_hold_exactly(expected: Expected, pg: PgVectorStore, qdrant: QdrantStore) -> None:
    live = {doc_id: version for doc_id, version in expected.items() if version is not None}
    stored = pg.get_documents(sorted(expected))
    assert {doc_id: (r.content_hash, r.chunk_count) for doc_id, r in stored.items()} == live
    expected_ids = {
        chunk_point_id(doc_id, seq) for doc_id, (_, chunks) in live.items() for seq in range(chunks)
    }
    assert pg.all_ids() == expected_ids
    assert pg.count() == len(expected_ids)  # no chunk stored twice
    assert {point for batch in qdrant.scroll_ids() for point in batch} == expected_ids
    assert qdrant.count() == len(expected_ids)
