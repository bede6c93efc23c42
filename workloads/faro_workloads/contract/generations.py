"""Index generations: the states a generation goes through and the names it has in the two stores.

A collection has one live generation (queries read it, ingest writes it), at most one building (being
filled from the documents' kept texts under a new index profile) and up to ``retain_generations`` retired
ones (kept for an instant rollback). Each has its own chunks table in PostgreSQL and its own Qdrant
collection; PostgreSQL's ``{collection}_generations`` table records which is live and is the truth, and the
Qdrant alias ``{collection}_live`` follows it for clients outside Faro.

Generation 1 uses the names a collection had before generations existed (``{collection}_chunks``, Qdrant
``{collection}``), so collections made by earlier versions are generation 1 as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from faro_workloads.contract.index_profile import IndexProfile

FIRST_GENERATION = 1
APPROVE_ANNOTATION = "approve-generation"
"""A RagPipeline annotation (``faro.dev/approve-generation: "<N>"``) approving the Manual cutover to N."""
DEFAULT_RETAIN_GENERATIONS = 1


class GenerationState(StrEnum):
    BUILDING = "Building"
    LIVE = "Live"
    RETIRED = "Retired"


class CutoverBlock(StrEnum):
    """Why a building generation was not made live (the reason of the ``CutoverBlocked`` condition)."""

    BACKFILL_INCOMPLETE = "BackfillIncomplete"
    DOCUMENTS_WITHOUT_TEXT = "DocumentsWithoutText"
    STORES_DISAGREE = "StoresDisagree"
    AWAITING_APPROVAL = "AwaitingApproval"
    RECALL_DROPPED = "RecallDropped"
    """The golden queries' recall@k on the new generation fell further below the live one's than allowed."""
    GOLDEN_QUERIES_INVALID = "GoldenQueriesInvalid"
    """The golden-queries file the gate was given cannot be read or is not one."""


APPROVABLE = frozenset(
    {CutoverBlock.AWAITING_APPROVAL, CutoverBlock.RECALL_DROPPED, CutoverBlock.GOLDEN_QUERIES_INVALID}
)
"""The blocks an approval lets a cutover through (the others hold whatever anyone approves)."""


def chunks_table_name(collection: str, generation: int) -> str:
    """The PostgreSQL table holding generation ``generation``'s chunks."""
    return f"{collection}_chunks" if generation == FIRST_GENERATION else f"{collection}_g{generation}_chunks"


def qdrant_collection_name(collection: str, generation: int) -> str:
    """The Qdrant collection holding generation ``generation``'s points."""
    return collection if generation == FIRST_GENERATION else f"{collection}_g{generation}"


def live_alias(collection: str) -> str:
    """The Qdrant alias that names the live generation's collection."""
    return f"{collection}_live"


class Generation(BaseModel):
    """One generation as PostgreSQL's registry records it."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(ge=FIRST_GENERATION)
    profile: IndexProfile
    state: GenerationState
    created_at: datetime
    live_since: datetime | None = None
    retired_at: datetime | None = None
    approved_at: datetime | None = None
    """When a Manual cutover to it was approved."""
    blocked_reason: CutoverBlock | None = None
    blocked_message: str | None = None
    """Why the last attempt to make it live did not (recorded by whichever process ran the gate)."""

    @property
    def fingerprint(self) -> str:
        return self.profile.fingerprint


def in_state(generations: Iterable[Generation], state: GenerationState) -> Generation | None:
    """The first of ``generations`` in ``state`` (there is at most one Live and one Building)."""
    return next((g for g in generations if g.state is state), None)


def estimated_completion(generation: Generation, documents: int, done: int, now: datetime) -> datetime | None:
    """When a building ``generation`` holding ``done`` of ``documents`` should hold them all, at the average
    rate since it was created; None before its first document, or once it holds them all."""
    elapsed = (now - generation.created_at).total_seconds()
    if done <= 0 or done >= documents or elapsed <= 0:
        return None
    return now + timedelta(seconds=elapsed * (documents - done) / done)
