"""A bucket prefix of raw documents as a pipeline's source, on real parts: moto S3 with its real bucket
notifications to SQS, the embedding engine's worker, PostgreSQL and Qdrant local mode.

Files put under the prefix become searchable (with their S3 metadata and tags), edits re-embed, deletes
leave every store; the full sync (``faro sync``) catches what notifications missed, reports only with
``--dry-run``, and finishes after a ``kill -9``; a poison file fails with its reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.settings import FaroSettings, IngestConfig
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.extraction_pool import shared_pool
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.source_documents import SourceLayout
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.core.stores.s3_sources import S3SourceDocuments
from faro_workloads.data_plane import DataPlane
from faro_workloads.embedder_worker import EmbedderWorker
from faro_workloads.s3_events import S3ObjectEvent
from faro_workloads.services.chunker import build_chunker_app
from faro_workloads.source_ingest import SourceIngest

from support.polling import wait_for
from support.worker_threads import worker_thread

pytestmark = pytest.mark.integration

DIMENSION = 32
PREFIX = "raw/docs"
LIMITS = IngestConfig(max_body_bytes=64 * 1024)


@pytest.fixture
def plane(pg_store_factory, qdrant_store_factory) -> Iterator[DataPlane]:
    pg = pg_store_factory(dimension=DIMENSION)
    data_plane = DataPlane(pg, qdrant_store_factory(pg.collection), HashingEmbedder(dimension=DIMENSION))
    data_plane.start_drainer()  # as the embedding engine does (for other writers: the sync deletes)
    yield data_plane
    data_plane.close()


def _layout(aws_pipeline) -> SourceLayout:
    return SourceLayout(aws_pipeline.s3_config.bucket, PREFIX, include=("*.md", "*.txt", "*.html"))


@contextmanager
def running_worker(aws_pipeline, plane: DataPlane) -> Iterator[None]:
    chunks = S3ChunkStore(
        aws_pipeline.s3, aws_pipeline.s3_config.bucket, ChunkObjectLayout("faro", aws_pipeline.pipeline)
    )
    pool = shared_pool(LIMITS.extraction_workers)
    sources = SourceIngest(
        S3SourceDocuments(aws_pipeline.s3, _layout(aws_pipeline), LIMITS.max_body_bytes),
        plane.ingest,
        lambda data, fmt: pool.extract_blocking(data, fmt, LIMITS),
    )
    worker = EmbedderWorker(
        aws_pipeline.sqs, chunks, plane.ingest, aws_pipeline.sqs_config, failures=plane.pg, sources=sources
    )
    with worker_thread(worker):
        yield


def _text(index: int, version: int = 1) -> str:
    return f"# Runbook {index}\n\nVersion {version}: restart the shard-{index:03} workers, drain it.\n"


def _put(aws_pipeline, key: str, body: str, **extra) -> None:
    aws_pipeline.s3.put_object(
        Bucket=aws_pipeline.s3_config.bucket, Key=f"{PREFIX}/{key}", Body=body, **extra
    )


def _delete(aws_pipeline, key: str) -> None:
    aws_pipeline.s3.delete_object(Bucket=aws_pipeline.s3_config.bucket, Key=f"{PREFIX}/{key}")


def _in_both_stores(plane: DataPlane, documents: int) -> bool:
    pg = plane.pg
    return (
        pg.document_count() == documents and pg.outbox_pending() == 0 and plane.qdrant.count() == pg.count()
    )


def _search(plane: DataPlane, text: str, backend: str = "qdrant", **flt) -> list[str]:
    """The documents of the top hits (the hashing embedder tells these near-identical texts apart poorly, so
    a search is restricted by ``flt``: doc_ids or metadata)."""
    hits = plane.retriever.query(text, 3, SearchFilter(**flt) if flt else None, backend).hits
    return [hit.doc_id for hit in hits]


def test_files_synced_into_the_prefix_are_searchable_and_edits_and_deletes_follow(
    aws_pipeline, plane: DataPlane
) -> None:
    with running_worker(aws_pipeline, plane):
        for index in range(200):
            _put(aws_pipeline, f"guides/{index:03}.md", _text(index))
        _put(
            aws_pipeline,
            "teams/ops.txt",
            "Paging policy for the ops team.",
            Metadata={"team": "ops", "reviewed.by": "ana"},
            Tagging="tier=gold",
        )
        _put(aws_pipeline, "images/logo.png", b"\x89PNG not a document")  # not included: ignored
        wait_for(lambda: _in_both_stores(plane, 201), timeout=240, what="201 documents in both stores")

        assert _search(plane, "restart the workers", doc_ids=["guides/042.md"]) == ["guides/042.md"]
        ops = plane.pg.get_document("teams/ops.txt")
        assert (
            ops is not None and ops.source == f"s3://{aws_pipeline.s3_config.bucket}/{PREFIX}/teams/ops.txt"
        )
        assert ops.metadata == {"reviewed_by": "ana", "team": "ops", "tier": "gold"}
        assert _search(plane, "paging policy", metadata={"tier": "gold"}) == ["teams/ops.txt"]
        before = {doc_id: plane.pg.get_document(doc_id) for doc_id in ("guides/000.md", "guides/150.md")}

        for index in range(10):  # edit ten, delete ten others
            _put(aws_pipeline, f"guides/{index:03}.md", _text(index, version=2))
            _delete(aws_pipeline, f"guides/{190 + index:03}.md")

        def edited() -> bool:
            texts = plane.pg.get_texts([f"guides/{index:03}.md" for index in range(10)])
            return _in_both_stores(plane, 191) and all("Version 2" in kept.text for kept in texts.values())

        wait_for(edited, timeout=120, what="ten edits and ten deletes")
    assert plane.pg.get_document("guides/000.md").content_hash != before["guides/000.md"].content_hash
    assert not plane.pg.get_documents([f"guides/{190 + index:03}.md" for index in range(10)])
    assert plane.pg.get_document("guides/150.md") == before["guides/150.md"]  # untouched
    for backend in ("qdrant", "postgres"):
        assert _search(plane, "restart the workers", backend, doc_ids=["guides/195.md"]) == []
        assert _search(plane, "Version 2", backend, doc_ids=["guides/003.md"]) == ["guides/003.md"]


def _faro_sync(plane: DataPlane, aws_pipeline, config, *args: str) -> subprocess.Popen[str]:
    """``faro sync ARGS`` with the settings the consistency job has (``config``: the test's PostgreSQL)."""
    pg = plane.pg
    env = {
        **os.environ,
        "FARO_PIPELINE": aws_pipeline.pipeline,
        "FARO_POSTGRES__DSN": config.dsn.get_secret_value(),
        "FARO_POSTGRES__SCHEMA_NAME": config.schema_name,
        "FARO_COLLECTION__NAME": pg.collection.name,
        "FARO_COLLECTION__DIMENSION": str(DIMENSION),
        "FARO_EMBEDDING__DIMENSION": str(DIMENSION),
        "FARO_S3__BUCKET": aws_pipeline.s3_config.bucket,
        "FARO_S3__ENDPOINT_URL": aws_pipeline.s3_config.endpoint_url,
        "FARO_SQS__QUEUE_URL": aws_pipeline.sqs_config.queue_url,
        "FARO_SQS__ENDPOINT_URL": aws_pipeline.sqs_config.endpoint_url,
        "FARO_SOURCE_DOCUMENTS__PREFIX": PREFIX,
        "FARO_SOURCE_DOCUMENTS__INCLUDE": json.dumps(["*.md", "*.txt", "*.html"]),
        "FARO_CONSISTENCY__CENSUS_GRACE_SECONDS": "0",
    }
    command = [sys.executable, "-m", "faro_workloads.cli", "sync", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finished(process: subprocess.Popen[str]) -> tuple[int, dict]:
    out, err = process.communicate(timeout=180)
    assert out, err
    return process.returncode, json.loads(out)


def test_the_full_sync_catches_what_notifications_missed_and_dry_run_only_reports(
    aws_pipeline, plane: DataPlane, postgres_config
) -> None:
    with running_worker(aws_pipeline, plane):
        for index in range(10):
            _put(aws_pipeline, f"kept/{index}.md", _text(index))
        wait_for(lambda: _in_both_stores(plane, 10), timeout=120, what="ten stored")
    with aws_pipeline.notifications_off():
        for index in range(20):
            _put(aws_pipeline, f"missed/{index:02}.md", _text(100 + index))
        for index in range(5):
            _delete(aws_pipeline, f"kept/{index}.md")
        _put(aws_pipeline, "kept/9.md", _text(9, version=2))  # changed while nobody was told
        _put(aws_pipeline, "missed/dup one.md", _text(500))  # two keys, one id (missed/dup-one.md):
        _put(aws_pipeline, "missed/dup-one.md", _text(501))  # the latest stands for it

    queue = aws_pipeline.sqs_config.queue_url
    depth = aws_pipeline.queue_depth(queue)  # S3's test event of the restored notifications, if any
    code, dry = _finished(_faro_sync(plane, aws_pipeline, postgres_config, "--dry-run"))
    assert code == 1  # differences found, nothing done
    assert (dry["dry_run"], dry["scope"], dry["acknowledged"]) == (True, "source", 26)
    assert (dry["missing_in_postgres"], dry["orphans"]) == (22, 5)  # 21 new + 1 changed; 5 gone
    assert dry["examples"]["orphans"] == [f"kept/{index}.md" for index in range(5)]
    assert plane.pg.document_count() == 10 and aws_pipeline.queue_depth(queue) == depth

    code, done = _finished(_faro_sync(plane, aws_pipeline, postgres_config))
    assert code == 0, done
    assert (done["requeued"]["missing_in_postgres"], done["orphans_deleted"], done["complete"]) == (
        22,
        5,
        True,
    )
    with running_worker(aws_pipeline, plane):
        wait_for(lambda: _in_both_stores(plane, 26), timeout=120, what="the sync's work done")
    texts = plane.pg.get_texts(["kept/9.md", "missed/dup-one.md"])
    assert "Version 2" in texts["kept/9.md"].text and "Runbook 501" in texts["missed/dup-one.md"].text
    code, again = _finished(_faro_sync(plane, aws_pipeline, postgres_config))
    assert code == 0 and again["complete"] and again["requeued"]["missing_in_postgres"] == 0


def test_a_sync_killed_midway_is_finished_by_the_next_run(
    aws_pipeline, plane: DataPlane, postgres_config
) -> None:
    """Stateless and resumable: the next run sends what the killed one had not recorded as sent (at most one
    page, 500, is sent twice: harmless, the engine skips an unchanged document), and a third sends nothing.
    (That sent documents become searchable is the test above; here nothing consumes the queue.)"""
    count = 1200
    with aws_pipeline.notifications_off():
        for index in range(count):
            _put(aws_pipeline, f"bulk/{index:04}.md", _text(index))
    queue = aws_pipeline.sqs_config.queue_url
    depth = aws_pipeline.queue_depth(queue)  # S3's test event of the restored notifications, if any

    first = _faro_sync(plane, aws_pipeline, postgres_config)
    wait_for(lambda: aws_pipeline.queue_depth(queue) > depth or first.poll() is not None, what="first sends")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    sent_first = aws_pipeline.queue_depth(queue) - depth

    code, second = _finished(_faro_sync(plane, aws_pipeline, postgres_config))
    assert code == 0, second
    resent = second["requeued"]["missing_in_postgres"]
    assert resent + second["in_flight"] == count  # every document either sent by the first run, or now
    assert sent_first + resent >= count  # nothing left unsent ...
    assert sent_first + resent <= count + 500  # ... and at most the killed run's last page sent twice
    assert aws_pipeline.queue_depth(queue) - depth == sent_first + resent

    code, third = _finished(_faro_sync(plane, aws_pipeline, postgres_config))
    assert code == 0 and third["requeued"]["missing_in_postgres"] == 0 and third["in_flight"] == count


def test_a_poison_file_fails_with_its_reason_and_is_searchable_after_the_fix(
    aws_pipeline, plane: DataPlane
) -> None:
    settings = FaroSettings(
        pipeline=aws_pipeline.pipeline, s3=aws_pipeline.s3_config, sqs=aws_pipeline.sqs_config
    )
    dlq = aws_pipeline.sqs_config.dead_letter_queue_url
    with TestClient(build_chunker_app(settings, aws_pipeline.s3, evidence=plane.pg)) as chunker:
        with running_worker(aws_pipeline, plane):
            _put(aws_pipeline, "big.md", "x " * (LIMITS.max_body_bytes // 2 + 10))  # over the size limit
            wait_for(lambda: aws_pipeline.queue_depth(dlq) == 1, timeout=90, what="dead-lettered")
            failed = wait_for(
                lambda: (d := chunker.get("/v1/documents/big.md").json()).get("state") == "failed" and d,
                what="marked failed",
            )
        assert "dead-lettered after 3 receives" in failed["reason"]
        assert "more than the 65536 a document may have" in failed["reason"]

        _put(aws_pipeline, "big.md", _text(1))  # fixed: a smaller file
        with running_worker(aws_pipeline, plane):
            wait_for(
                lambda: chunker.get("/v1/documents/big.md").json()["state"] == "searchable", what="searchable"
            )
    assert plane.pg.get_document("big.md") is not None


class RacedIngest:
    """``plane``'s ingest; ``meanwhile`` runs once, before the next write (what another replica or the
    bucket's owner does while this replica writes)."""

    def __init__(self, plane: DataPlane) -> None:
        self._inner = plane.ingest
        self.meanwhile: list = []

    def _first(self) -> None:
        if self.meanwhile:
            self.meanwhile.pop(0)()

    def ingest(self, document):  # type: ignore[no-untyped-def]
        self._first()
        return self._inner.ingest(document)

    def delete(self, doc_id: str) -> bool:
        self._first()
        return self._inner.delete(doc_id)


def _raced_sources(aws_pipeline, raced: RacedIngest) -> SourceIngest:
    pool = shared_pool(LIMITS.extraction_workers)
    objects = S3SourceDocuments(aws_pipeline.s3, _layout(aws_pipeline), LIMITS.max_body_bytes)
    return SourceIngest(objects, raced, lambda data, fmt: pool.extract_blocking(data, fmt, LIMITS))


def _event(aws_pipeline, name: str, key: str) -> S3ObjectEvent:
    return S3ObjectEvent(name, aws_pipeline.s3_config.bucket, f"{PREFIX}/{key}")


def test_a_file_changed_or_removed_while_it_was_written_ends_as_s3_holds_it(aws_pipeline, plane) -> None:
    with aws_pipeline.notifications_off():  # the test hands the events over itself, one at a time
        raced = RacedIngest(plane)
        sources = _raced_sources(aws_pipeline, raced)
        created = _event(aws_pipeline, "ObjectCreated:Put", "a.md")
        _put(aws_pipeline, "a.md", _text(1, version=1))
        raced.meanwhile = [lambda: _put(aws_pipeline, "a.md", _text(1, version=2))]  # read v1, then v2 put

        assert sources.handle(created, "a.md") == "processed"
        assert "Version 2:" in plane.pg.get_texts(["a.md"])["a.md"].text

        raced.meanwhile = [lambda: _delete(aws_pipeline, "a.md")]  # read, then removed
        _put(aws_pipeline, "a.md", _text(1, version=3))
        assert sources.handle(created, "a.md") == "processed"
        assert plane.pg.get_document("a.md") is None

        # removed, then put back while the removal was being written
        _put(aws_pipeline, "a.md", _text(1, version=4))
        sources.handle(created, "a.md")
        _delete(aws_pipeline, "a.md")
        raced.meanwhile = [lambda: _put(aws_pipeline, "a.md", _text(1, version=5))]
        assert sources.handle(_event(aws_pipeline, "ObjectRemoved:Delete", "a.md"), "a.md") == "processed"
        assert "Version 5:" in plane.pg.get_texts(["a.md"])["a.md"].text
