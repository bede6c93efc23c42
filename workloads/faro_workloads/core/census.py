"""The census: every document the documents API acknowledged, counted against what PostgreSQL and Qdrant
hold, by id and version (the ETag of the chunk object a document was read from).

The listing of acknowledged chunk objects is streamed, a page at a time, into PostgreSQL, which does the
join (:class:`CensusStore`): memory stays bounded by a page whatever the number of documents. The gaps:

- ``missing_in_postgres``: acknowledged more than ``grace_seconds`` ago, but PostgreSQL holds no version of
  it or an older one (a notification lost, a message dropped);
- ``in_flight``: the same, acknowledged within the grace, or sent to the embedding engine by a census within
  ``requeue_timeout_seconds`` (still on its way: not a gap, and not sent again);
- ``failed``: the same, marked failed by the embedding engine (dead-lettered; see ``faro dlq``);
- ``unverified``: in PostgreSQL, stored before versions were recorded (not a gap; a repair records it);
- ``missing_in_qdrant``: in PostgreSQL with points Qdrant lacks (from the store check);
- ``orphans``: in PostgreSQL with no acknowledged chunk object (a delete that never arrived).

With repair, what PostgreSQL lacks (and what is unverified) is sent to the embedding engine again as S3
notifications, and orphans are deleted from PostgreSQL (and through the Qdrant repair that follows, from
Qdrant) — unless the listing was empty or the orphans are more than ``max_orphan_deletes``, which is what a
wrong bucket or prefix looks like, and then nothing is deleted and the report says why.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from faro_workloads.core.source_documents import SOURCE_SCHEME

log = logging.getLogger(__name__)

Gap = Literal["missing_in_postgres", "in_flight", "failed", "unverified", "orphans"]
GAPS: tuple[str, ...] = ("missing_in_postgres", "missing_in_qdrant", "orphans", "failed")
"""The gaps that make a pipeline incomplete (metrics, status and the ``Complete`` condition)."""
EXAMPLES = 20
"""Document ids given per gap in the report."""


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One acknowledged document as a listing shows it."""

    doc_id: str
    etag: str
    modified: datetime
    key: str
    """The object's key (what a requeued notification names)."""


@dataclass(frozen=True, slots=True)
class CensusScope:
    """What a census counts: the chunk objects (``source_prefix`` None: every document not read from a
    bucket source is theirs), or a bucket source's documents (their ``source`` starts with
    ``source_prefix``)."""

    name: Literal["chunk_objects", "source"]
    source_prefix: str | None = None

    def owns(self, source: str) -> bool:
        """Whether a document whose ``source`` is this belongs to the scope."""
        if self.source_prefix is not None:
            return source.startswith(self.source_prefix)
        return not source.startswith(SOURCE_SCHEME)


CHUNK_OBJECTS = CensusScope("chunk_objects")


@dataclass(frozen=True, slots=True)
class CensusCounts:
    """What PostgreSQL's side of the census counted (see the module for each)."""

    acknowledged: int
    postgres: int
    missing_in_postgres: int
    in_flight: int
    failed: int
    unverified: int
    orphans: int


class CensusSession(Protocol):
    """PostgreSQL's side of one census, over the listing it was given."""

    def counts(self) -> CensusCounts: ...

    def listed(self, gap: Gap, limit: int | None = None) -> Iterator[list[tuple[str, str]]]:
        """The documents in ``gap`` (at most ``limit``) as (id, listed key; "" for orphans), in pages, by
        id."""
        ...

    def record_requeued(self, doc_ids: Sequence[str]) -> None:
        """Note that the listed versions of ``doc_ids`` were sent to the embedding engine now (a census
        within the grace counts them in flight, not missing: a rerun does not send them again)."""
        ...


class CensusStore(Protocol):
    def census(
        self,
        listing: Iterable[list[ListedObject]],
        scope: CensusScope,
        listed_at: datetime,
        grace_seconds: float,
        requeue_timeout_seconds: float,
    ) -> AbstractContextManager[CensusSession]: ...

    def documents_of_points(self, point_ids: Sequence[uuid.UUID]) -> dict[str, str]:
        """The documents holding ``point_ids``, with their ``source``."""
        ...

    def delete_document(self, doc_id: str) -> list[uuid.UUID] | None: ...


Requeue = Callable[[list[str]], int]
"""Sends documents to the embedding engine again (by their objects' keys); returns how many were sent."""


@dataclass(slots=True)
class CensusReport:
    """One census: PostgreSQL's ``counts``, and ``missing_in_qdrant`` from the store check that follows."""

    counts: CensusCounts
    scope: CensusScope = CHUNK_OBJECTS
    missing_in_qdrant: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    requeued_missing: int = 0
    """Of ``missing_in_postgres``, sent to the embedding engine again by the repair."""
    requeued_unverified: int = 0
    orphans_deleted: int = 0
    refused: str | None = None
    """Why the repair deleted no orphan (None when it did, or had none to delete, or did not run)."""

    @property
    def complete(self) -> bool:
        """No gap is left: none found, or the repair dealt with each (requeued documents are on their
        way, the next census finds them stored)."""
        return not any(self.remaining(name) for name in GAPS)

    @property
    def repaired(self) -> bool:
        return bool(self.requeued_missing or self.requeued_unverified or self.orphans_deleted)

    def gap(self, name: str) -> int:
        """How many documents the census found in gap ``name`` (or ``in_flight``, ``unverified``)."""
        return self.missing_in_qdrant if name == "missing_in_qdrant" else int(getattr(self.counts, name))

    def remaining(self, name: str) -> int:
        """Of gap ``name``, what the repair did not deal with."""
        dealt = {"missing_in_postgres": self.requeued_missing, "orphans": self.orphans_deleted}
        return self.gap(name) - dealt.get(name, 0)

    @property
    def problems(self) -> list[str]:
        """One readable phrase per gap left."""
        phrases = {
            "missing_in_postgres": "acknowledged documents missing in postgres",
            "missing_in_qdrant": "documents with points missing in qdrant",
            "orphans": "orphan documents in postgres (no chunk object)",
            "failed": "documents failed (dead-lettered)",
        }
        return [f"{self.remaining(name)} {phrases[name]}" for name in GAPS if self.remaining(name)]

    def to_dict(self) -> dict[str, Any]:
        counts = self.counts
        return {
            "scope": self.scope.name,
            "acknowledged": counts.acknowledged,
            "postgres_documents": counts.postgres,
            **{name: self.gap(name) for name in (*GAPS, "in_flight", "unverified")},
            "complete": self.complete,
            "examples": self.examples,
            "requeued": {
                "missing_in_postgres": self.requeued_missing,
                "unverified": self.requeued_unverified,
            },
            "orphans_deleted": self.orphans_deleted,
            "orphan_repair_refused": self.refused,
        }


def take_census(
    listing: Iterable[list[ListedObject]],
    pg: CensusStore,
    listed_at: datetime,
    *,
    scope: CensusScope,
    grace_seconds: float,
    requeue_timeout_seconds: float,
    max_orphan_deletes: int,
    requeue: Requeue | None = None,
) -> CensusReport:
    """Count the acknowledged documents against PostgreSQL; with ``requeue`` (repair), send what PostgreSQL
    lacks (or holds unverified) to the embedding engine again and delete the orphans (see the module).

    ``listed_at`` is when the listing started: a document PostgreSQL stored after it may have been
    acknowledged after the listing passed it, so it is never an orphan.
    """
    with pg.census(listing, scope, listed_at, grace_seconds, requeue_timeout_seconds) as session:
        counts = session.counts()
        report = CensusReport(counts, scope=scope)
        for gap in ("missing_in_postgres", "failed", "orphans"):
            pages = session.listed(gap, EXAMPLES)  # type: ignore[arg-type]
            report.examples[gap] = [doc_id for page in pages for doc_id, _ in page]
        if requeue is not None:
            report.requeued_missing = _requeue(session, "missing_in_postgres", requeue)
            report.requeued_unverified = _requeue(session, "unverified", requeue)
            report.refused = _orphan_refusal(counts, max_orphan_deletes)
            if report.refused is None and counts.orphans:
                for page in session.listed("orphans"):
                    report.orphans_deleted += sum(
                        pg.delete_document(doc_id) is not None for doc_id, _ in page
                    )
    if report.refused:
        log.warning("census: orphans not deleted: %s", report.refused)
    log.info("census: %s", {k: v for k, v in report.to_dict().items() if k != "examples"})
    return report


def _requeue(session: CensusSession, gap: Gap, requeue: Requeue) -> int:
    """Send every document of ``gap`` to the embedding engine again, a page at a time, recording each page
    once it is sent (a run killed midway resends at most one page)."""
    sent = 0
    for page in session.listed(gap):
        sent += requeue([key for _, key in page])
        session.record_requeued([doc_id for doc_id, _ in page])
    return sent


def _orphan_refusal(counts: CensusCounts, limit: int) -> str | None:
    """Why deleting the orphans would be wrong now, if it would."""
    if not counts.orphans:
        return None
    if counts.acknowledged == 0:
        return (
            f"the listing found no chunk object but postgres holds {counts.postgres} documents: "
            "check the bucket, prefix and pipeline before deleting anything"
        )
    if counts.orphans > limit:
        return f"{counts.orphans} orphans are more than max_orphan_deletes ({limit})"
    return None
