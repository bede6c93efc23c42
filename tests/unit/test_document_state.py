"""The decision of a document's state from what each store holds (every row of the state table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from faro_workloads.core.document_state import (
    UNMARKED_DELETE_SETTLED,
    Acknowledgement,
    DocumentMark,
    DocumentState,
    IndexedDocument,
    resolve_state,
)
from faro_workloads.core.documents import DocumentRecord

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def record(content_hash: str, at: datetime = T0) -> DocumentRecord:
    return DocumentRecord("doc", content_hash, "upload", 2, {"team": "ops"}, at)


def version(content_hash: str, at: datetime = T0) -> Acknowledgement:
    return Acknowledgement(at, record(content_hash, at))


def failed(content_hash: str = "", at: datetime = T0, reason: str = "dead-lettered") -> DocumentMark:
    return DocumentMark("failed", content_hash, reason, at)


LATER = T0 + timedelta(minutes=1)
EARLIER = T0 - timedelta(minutes=1)
NOW = T0 + timedelta(seconds=3)


def deleted(content_hash: str = "v1", at: datetime = T0, pending: bool = False) -> DocumentMark:
    return DocumentMark("deleted", content_hash, "", at, pending)


@pytest.mark.parametrize(
    ("acknowledged", "indexed", "mark", "state"),
    [
        (version("v1"), None, None, DocumentState.ACCEPTED),
        (version("v2"), IndexedDocument(record("v1"), False), None, DocumentState.ACCEPTED),
        (version("v1"), IndexedDocument(record("v1"), True), None, DocumentState.EMBEDDED),
        (version("v1"), IndexedDocument(record("v1"), False), None, DocumentState.SEARCHABLE),
        (None, IndexedDocument(record("v1"), True), None, DocumentState.EMBEDDED),
        (None, IndexedDocument(record("v1"), False), None, DocumentState.SEARCHABLE),
        (version("v1"), None, failed("v1"), DocumentState.FAILED),
        (version("v1"), None, failed("", at=LATER), DocumentState.FAILED),
        (version("v2"), IndexedDocument(record("v1"), False), failed("v2"), DocumentState.FAILED),
        (None, None, failed("v1"), DocumentState.FAILED),
        (Acknowledgement(T0), IndexedDocument(record("v1"), False), None, DocumentState.DELETING),
        (Acknowledgement(T0), None, None, DocumentState.DELETING),  # not applied yet: a write may land
        (Acknowledgement(T0), None, deleted(at=T0 + timedelta(seconds=1)), DocumentState.DELETED),
        (Acknowledgement(T0), None, deleted(at=EARLIER), DocumentState.DELETING),  # an earlier delete's
        (None, None, deleted(), DocumentState.DELETED),
        (None, None, deleted(pending=True), DocumentState.DELETING),  # Qdrant still holds its points
        (Acknowledgement(T0), None, deleted(at=NOW, pending=True), DocumentState.DELETING),
    ],
)
def test_the_state_follows_from_what_each_store_holds(acknowledged, indexed, mark, state) -> None:
    status = resolve_state("doc", acknowledged, indexed, mark, now=NOW)
    assert status is not None and status.state is state


def test_a_delete_applied_reads_deleted_since_it_was_applied() -> None:
    applied = T0 + timedelta(seconds=1)
    status = resolve_state("doc", Acknowledgement(T0), None, deleted(at=applied), now=NOW)
    assert (status.state, status.at) == (DocumentState.DELETED, applied)
    # PostgreSQL's clock a little behind S3's: the mark still counts as the delete's
    lagging = resolve_state("doc", Acknowledgement(T0), None, deleted(at=T0 - timedelta(seconds=2)), now=NOW)
    assert lagging.state is DocumentState.DELETED


def test_an_unmarked_delete_reads_deleted_once_it_is_old() -> None:
    """Its mark pruned after the retention (or never made, by an older embedder): no write begun before
    the delete can still land."""
    ack = Acknowledgement(T0)
    assert (
        resolve_state("doc", ack, None, None, now=T0 + timedelta(seconds=119)).state is DocumentState.DELETING
    )
    old = resolve_state("doc", ack, None, None, now=T0 + UNMARKED_DELETE_SETTLED)
    assert (old.state, old.at) == (DocumentState.DELETED, T0)


def test_a_failure_of_another_version_does_not_fail_a_newer_upload() -> None:
    # the version that failed was v1; v2 was uploaded after the fix, and waits for the embedder
    assert resolve_state("doc", version("v2"), None, failed("v1")).state is DocumentState.ACCEPTED
    # a failure that could not name its version counts when it came after the upload, not before
    assert resolve_state("doc", version("v2"), None, failed("", at=EARLIER)).state is DocumentState.ACCEPTED


def test_an_indexed_version_wins_over_a_stale_failure() -> None:
    status = resolve_state("doc", version("v1"), IndexedDocument(record("v1"), False), failed("v1"))
    assert (status.state, status.reason) == (DocumentState.SEARCHABLE, None)


def test_a_failed_document_carries_its_reason_and_the_version_queries_find_meanwhile() -> None:
    status = resolve_state("doc", version("v2"), IndexedDocument(record("v1"), False), failed("v2", LATER))
    assert status.reason == "dead-lettered"
    assert (status.record.content_hash, status.indexed_hash, status.at) == ("v2", "v1", LATER)


def test_a_replace_in_flight_shows_the_new_version_and_the_one_still_served() -> None:
    status = resolve_state("doc", version("v2", LATER), IndexedDocument(record("v1"), False), None)
    assert (status.state, status.record.content_hash, status.indexed_hash) == (
        DocumentState.ACCEPTED,
        "v2",
        "v1",
    )


def test_a_document_no_store_has_heard_of_has_no_state() -> None:
    assert resolve_state("doc", None, None, None) is None
