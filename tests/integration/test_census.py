"""The census on real parts: chunk objects in S3 (moto, with its real bucket notifications to SQS), the
embedding engine's worker, PostgreSQL and Qdrant local mode. Notifications switched off while documents are
uploaded leave exactly those documents missing; the repair sends them back and they become searchable;
orphans are found and removed; a listing of the wrong prefix deletes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from faro_workloads.census_source import CensusSource, NotificationRequeue
from faro_workloads.consistency_job import ExitCode, run_consistency
from faro_workloads.consistency_publication import metrics_registry, status_patch
from faro_workloads.contract.settings import ChunkingConfig, ConsistencyConfig, FaroSettings
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.data_plane import DataPlane
from faro_workloads.embedder_worker import EmbedderWorker
from faro_workloads.services.chunker import build_chunker_app

from support.polling import wait_for
from support.worker_threads import worker_thread

pytestmark = pytest.mark.integration

DIMENSION = 32
# min_overlap 0: the hashing embedder gives these near-identical texts tied scores, which the two stores may
# order differently; overlap is not what these tests are about.
CHECK = ConsistencyConfig(sample_size=5, k=3, census_grace_seconds=0, min_overlap=0)


@pytest.fixture
def plane(pg_store_factory, qdrant_store_factory) -> Iterator[DataPlane]:
    pg = pg_store_factory(dimension=DIMENSION)
    data_plane = DataPlane(pg, qdrant_store_factory(pg.collection), HashingEmbedder(dimension=DIMENSION))
    yield data_plane
    data_plane.close()


@pytest.fixture
def chunker(aws_pipeline, plane: DataPlane) -> Iterator[TestClient]:
    settings = FaroSettings(
        pipeline=aws_pipeline.pipeline,
        s3=aws_pipeline.s3_config,
        sqs=aws_pipeline.sqs_config,
        chunking=ChunkingConfig(strategy="recursive", size=64, overlap=8),
    )
    with TestClient(build_chunker_app(settings, aws_pipeline.s3, evidence=plane.pg)) as client:
        yield client


def _store(aws_pipeline, pipeline: str | None = None) -> S3ChunkStore:
    layout = ChunkObjectLayout("faro", pipeline or aws_pipeline.pipeline)
    return S3ChunkStore(aws_pipeline.s3, aws_pipeline.s3_config.bucket, layout)


def _source(aws_pipeline, repair: bool, pipeline: str | None = None) -> list[CensusSource]:
    store = _store(aws_pipeline, pipeline)
    requeue = NotificationRequeue(aws_pipeline.sqs, aws_pipeline.sqs_config.queue_url, store.bucket)
    return [CensusSource.chunk_objects(store, requeue if repair else None)]


@contextmanager
def running_worker(aws_pipeline, plane: DataPlane) -> Iterator[None]:
    worker = EmbedderWorker(
        aws_pipeline.sqs, _store(aws_pipeline), plane.ingest, aws_pipeline.sqs_config, failures=plane.pg
    )
    with worker_thread(worker):
        yield


def _upload(chunker: TestClient, doc_id: str) -> None:
    text = f"{doc_id}: how to restart the {doc_id} workers and drain their outbox."
    assert chunker.post("/v1/documents", json={"doc_id": doc_id, "text": text}).status_code == 202


def test_documents_uploaded_while_notifications_were_off_are_found_and_repaired(
    aws_pipeline, plane: DataPlane, chunker: TestClient
) -> None:
    with running_worker(aws_pipeline, plane):
        for index in range(10):
            _upload(chunker, f"kept/{index:02}")
        wait_for(lambda: plane.pg.document_count() == 10, timeout=60, what="the first ten stored")
        with aws_pipeline.notifications_off():
            lost = [f"lost/{index:02}" for index in range(20)]
            for doc_id in lost:
                _upload(chunker, doc_id)
    assert chunker.get("/v1/documents/lost/00").json()["state"] == "accepted"  # and it would stay so

    found = run_consistency(plane.pg, plane.qdrant, CHECK, _source(aws_pipeline, repair=False))

    census = found.census
    assert census is not None and not census.complete
    assert (census.counts.acknowledged, census.counts.postgres) == (30, 10)
    gaps = ("missing_in_postgres", "orphans", "failed", "missing_in_qdrant")
    assert [census.gap(gap) for gap in gaps] == [20, 0, 0, 0]
    assert census.examples["missing_in_postgres"] == lost
    assert found.problems == ["chunk_objects: 20 acknowledged documents missing in postgres"]
    assert status_patch(found)["status"]["consistency"]["census"]["missingInPostgres"] == 20
    gauges = metrics_registry(found)
    gap = {"scope": "chunk_objects", "gap": "missing_in_postgres"}
    assert gauges.get_sample_value("faro_census_gap_documents", gap) == 20
    assert gauges.get_sample_value("faro_census_complete", {"scope": "chunk_objects"}) == 0

    repaired = run_consistency(
        plane.pg, plane.qdrant, CHECK.model_copy(update={"repair": True}), _source(aws_pipeline, True)
    )
    assert repaired.census is not None and repaired.census.requeued_missing == 20
    assert repaired.census.complete and repaired.ok  # every gap dealt with: the twenty are on their way
    with running_worker(aws_pipeline, plane):
        wait_for(lambda: plane.pg.document_count() == 30, timeout=90, what="the lost twenty embedded")
        wait_for(
            lambda: chunker.get("/v1/documents/lost/19").json()["state"] == "searchable", what="searchable"
        )
    hits = plane.retriever.query("how to restart the lost/07 workers", 3, None, "qdrant").hits
    assert "lost/07" in {hit.doc_id for hit in hits}
    again = run_consistency(plane.pg, plane.qdrant, CHECK, _source(aws_pipeline, repair=False))
    assert again.census is not None and again.census.complete and again.ok
    assert (again.census.counts.acknowledged, again.census.gap("missing_in_postgres")) == (30, 0)


def test_orphans_are_found_and_removed_and_a_wrong_prefix_deletes_nothing(
    aws_pipeline, plane: DataPlane, chunker: TestClient
) -> None:
    with running_worker(aws_pipeline, plane):
        for index in range(5):
            _upload(chunker, f"doc/{index}")
        wait_for(lambda: plane.pg.document_count() == 5, timeout=60, what="five stored")
    # rows with no source: written past the chunking service (or a delete that never arrived)
    for index in range(3):
        plane.ingest.ingest_chunks(f"stray/{index}", f"h{index}", "bulk", {}, _spans(index))
    assert plane.qdrant.count() == plane.pg.count()

    wrong = run_consistency(
        plane.pg,
        plane.qdrant,
        CHECK.model_copy(update={"repair": True}),
        _source(aws_pipeline, repair=True, pipeline="no-such-pipeline"),
    )
    assert wrong.census is not None
    assert (wrong.census.counts.acknowledged, wrong.census.gap("orphans")) == (0, 8)
    assert wrong.census.orphans_deleted == 0 and "listing found no chunk object" in wrong.census.refused
    assert plane.pg.document_count() == 8  # nothing deleted

    capped = run_consistency(
        plane.pg,
        plane.qdrant,
        CHECK.model_copy(update={"repair": True, "max_orphan_deletes": 2}),
        _source(aws_pipeline, repair=True),
    )
    assert capped.census is not None
    assert (capped.census.gap("orphans"), capped.census.orphans_deleted) == (3, 0)
    assert "more than max_orphan_deletes (2)" in capped.census.refused

    found = run_consistency(plane.pg, plane.qdrant, CHECK, _source(aws_pipeline, repair=False))
    assert found.census is not None and found.census.examples["orphans"] == ["stray/0", "stray/1", "stray/2"]
    assert not found.ok

    removed = run_consistency(
        plane.pg, plane.qdrant, CHECK.model_copy(update={"repair": True}), _source(aws_pipeline, repair=True)
    )
    assert removed.census is not None and removed.census.orphans_deleted == 3 and removed.ok
    assert plane.pg.document_count() == 5
    assert removed.final.qdrant_count == removed.final.postgres_count == plane.pg.count()  # points gone too
    # Qdrant's points went with the repair; the outbox rows the deletes queued read 'deleting' until the
    # embedding engine's drainer (not running here) has applied them
    assert chunker.get("/v1/documents/stray/0").json()["state"] == "deleting"
    plane.ingest_path.drain()
    assert chunker.get("/v1/documents/stray/0").json()["state"] == "deleted"


def _spans(index: int):
    from faro_workloads.core.documents import ChunkSpan

    text = f"stray document {index} about the release train"
    return [ChunkSpan(text, 0, len(text))]


def test_a_census_that_cannot_list_still_checks_the_stores_and_exits_unavailable(
    aws_pipeline, plane: DataPlane
) -> None:
    plane.ingest.ingest_chunks("doc", "h0", "s3", {}, _spans(0))
    store = S3ChunkStore(aws_pipeline.s3, "no-such-bucket", ChunkObjectLayout("faro", aws_pipeline.pipeline))

    result = run_consistency(plane.pg, plane.qdrant, CHECK, [CensusSource.chunk_objects(store, None)])

    assert result.censuses == () and "NoSuchBucket" in (result.census_error or "")
    assert result.final.postgres_count == result.final.qdrant_count == 1  # the stores were checked
    assert result.ok and result.exit_code == ExitCode.UNAVAILABLE
