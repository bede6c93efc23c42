"""Replicas racing on one document: a version read before the chunking service wrote a newer one (or deleted
the document) must not be what the stores end with. The chunk objects change at the exact moment a write
is under way (inside the ingest call), the interleaving two replicas can produce; the stores are fakes, the
ingest service is the real one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faro_workloads.chunk_events import MAX_ROUNDS, ChunkEvents, DocumentKeepsChanging, PoisonMessage
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IngestResult, IngestService
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.errors import DependencyUnavailable
from faro_workloads.s3_events import S3ObjectEvent

from support.fake_stores import FakeChunkObjects, FakePostgres, FakeQdrant

BUCKET = "faro-chunks"
LAYOUT = ChunkObjectLayout("chunks", "demo")


class RacedIngest(IngestService):
    """The real ingest service; ``during_write`` runs once per write, before it (what another replica or
    the chunking service does meanwhile)."""

    during_write: list[Callable[[], None]]

    def ingest_chunks(self, *args, **kwargs) -> IngestResult:  # type: ignore[no-untyped-def]
        if self.during_write:
            self.during_write.pop(0)()
        return super().ingest_chunks(*args, **kwargs)

    def delete(self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False) -> bool:
        if self.during_write:
            self.during_write.pop(0)()
        return super().delete(doc_id, held_tenant, acknowledged)


class Bucket:
    def __init__(self) -> None:
        self.pg = FakePostgres()
        self.objects = FakeChunkObjects(BUCKET, LAYOUT)
        qdrant = FakeQdrant()
        writer = DualWriter(self.pg, qdrant, OutboxDrainer(self.pg, qdrant))
        chunker = Chunker(ChunkingConfig(tokenizer="chars"))
        self.ingest = RacedIngest(chunker, HashingEmbedder(dimension=16), self.pg, writer)
        self.ingest.during_write = []
        self.events = ChunkEvents(self.objects, self.ingest)

    def upload(self, doc_id: str, version: str) -> S3ObjectEvent:
        spans = [ChunkSpan(f"Text {version}.", 0, 9)]
        obj = ChunkObject("demo", doc_id, f"hash-{version}", "upload", {}, spans)
        self.objects.objects.pop(LAYOUT.tombstone_key(doc_id), None)
        return self._event(self.objects.put(obj))

    def delete(self, doc_id: str) -> S3ObjectEvent:
        self.objects.objects.pop(LAYOUT.document_key(doc_id), None)
        key = LAYOUT.tombstone_key(doc_id)
        self.objects.objects[key] = b"{}"
        return self._event(key)

    def stored_hash(self, doc_id: str) -> str | None:
        record = self.pg.documents.get(doc_id)
        return None if record is None else record.content_hash

    @staticmethod
    def _event(key: str) -> S3ObjectEvent:
        return S3ObjectEvent("ObjectCreated:Put", BUCKET, key)


@pytest.fixture
def bucket() -> Bucket:
    return Bucket()


def test_a_version_replaced_while_it_was_written_is_followed_by_the_newer_one(bucket: Bucket) -> None:
    event = bucket.upload("guide", "v1")
    bucket.ingest.during_write = [lambda: bucket.upload("guide", "v2")]  # v1 read, then v2 written

    assert bucket.events.handle(event) == "processed"

    assert bucket.stored_hash("guide") == "hash-v2"


def test_a_version_deleted_while_it_was_written_is_deleted(bucket: Bucket) -> None:
    event = bucket.upload("guide", "v1")
    bucket.ingest.during_write = [lambda: bucket.delete("guide")]

    assert bucket.events.handle(event) == "processed"

    assert bucket.stored_hash("guide") is None


def test_a_document_uploaded_again_while_its_delete_ran_is_stored(bucket: Bucket) -> None:
    bucket.events.handle(bucket.upload("guide", "v1"))
    event = bucket.delete("guide")
    bucket.ingest.during_write = [lambda: bucket.upload("guide", "v2")]  # exists-check passed, then uploaded

    assert bucket.events.handle(event) == "processed"

    assert bucket.stored_hash("guide") == "hash-v2"


def test_a_delete_between_its_two_steps_is_left_to_its_tombstone(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = bucket.upload("guide", "v1")
    key = LAYOUT.document_key("guide")
    write = bucket.pg.write_documents

    def written_then_gone(*args, **kwargs):  # type: ignore[no-untyped-def]
        done = write(*args, **kwargs)
        bucket.objects.objects.pop(key, None)  # object gone after the write, no tombstone yet
        return done

    monkeypatch.setattr(bucket.pg, "write_documents", written_then_gone)

    assert bucket.events.handle(event) == "processed"

    assert bucket.stored_hash("guide") == "hash-v1"  # the tombstone's own event deletes it
    assert bucket.events.handle(bucket.delete("guide")) == "processed"
    assert bucket.stored_hash("guide") is None


def test_a_version_deleted_while_it_was_embedded_is_never_written(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DELETE answered while a long document was embedded: it must not become searchable meanwhile."""
    written: list[str] = []
    write = bucket.pg.write_documents

    def recorded(documents, *args, **kwargs):  # type: ignore[no-untyped-def]
        written.extend(record.doc_id for record, _ in documents)
        return write(documents, *args, **kwargs)

    monkeypatch.setattr(bucket.pg, "write_documents", recorded)
    event = bucket.upload("guide", "v1")
    bucket.ingest.during_write = [lambda: bucket.delete("guide")]  # read, then deleted while embedding

    assert bucket.events.handle(event) == "processed"

    assert written == [] and bucket.stored_hash("guide") is None


def test_a_delete_applied_while_the_version_was_written_wins(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete lands after the check before the write, and another replica applies its tombstone before
    this write commits: the write's transaction sees the delete and writes nothing, so the document, once
    deleted, never comes back."""
    attempted: list[str] = []
    committed: list[str] = []
    write = bucket.pg.write_documents

    def raced(documents, *args, **kwargs):  # type: ignore[no-untyped-def]
        attempted.extend(record.doc_id for record, _ in documents)
        if len(attempted) == 1:  # the other replica, between this one's check and its commit
            assert bucket.events.handle(bucket.delete("guide")) == "processed"
            assert bucket.pg.deletions(["guide"])  # applied, and noted though nothing was stored
        done = write(documents, *args, **kwargs)
        committed.extend(done)
        return done

    monkeypatch.setattr(bucket.pg, "write_documents", raced)

    assert bucket.events.handle(bucket.upload("guide", "v1")) == "processed"

    assert attempted == ["guide"] and committed == []  # never stored, not even until the check after
    assert bucket.stored_hash("guide") is None and bucket.pg.chunks == {}


def test_an_upload_after_an_applied_delete_is_written(bucket: Bucket) -> None:
    bucket.events.handle(bucket.upload("guide", "v1"))
    bucket.events.handle(bucket.delete("guide"))

    assert bucket.events.handle(bucket.upload("guide", "v2")) == "processed"

    assert bucket.stored_hash("guide") == "hash-v2" and bucket.pg.deletions(["guide"]) == {}


def test_an_unchanged_version_is_skipped_without_looking_again(
    bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = bucket.upload("guide", "v1")
    bucket.events.handle(event)
    monkeypatch.setattr(bucket.objects, "etag", lambda key: pytest.fail(f"looked at {key} again"))

    assert bucket.events.handle(event) == "skipped"  # whoever wrote this version made the check


def test_a_document_that_keeps_changing_is_given_back_for_a_later_retry(bucket: Bucket) -> None:
    event = bucket.upload("guide", "v0")
    bucket.ingest.during_write = [
        (lambda n=n: bucket.upload("guide", f"v{n}")) for n in range(1, MAX_ROUNDS + 2)
    ]

    with pytest.raises(DocumentKeepsChanging) as raised:
        bucket.events.handle(event)

    assert isinstance(raised.value, DependencyUnavailable)  # transient: retried, never dead-lettered


def test_an_event_of_another_bucket_is_poison(bucket: Bucket) -> None:
    with pytest.raises(PoisonMessage, match="this pipeline reads 'faro-chunks'"):
        bucket.events.handle(S3ObjectEvent("ObjectCreated:Put", "elsewhere", LAYOUT.document_key("guide")))
