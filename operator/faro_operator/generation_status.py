"""A RagPipeline's index generations as its status shows them: ``status.liveGeneration``,
``status.generations[]`` and the informational ``Reindexing`` condition (a pure function of what
PostgreSQL's registry says)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from faro_workloads.contract import conditions
from faro_workloads.contract.conditions import ConditionUpdate
from faro_workloads.contract.generations import (
    Generation,
    GenerationState,
    estimated_completion,
    in_state,
)
from faro_workloads.contract.status import GenerationStatus

Progress = Callable[[int], tuple[int, int, int]]
"""(documents, missing, stale) of a generation."""


def generation_status(
    generations: list[Generation], progress: Progress, now: datetime
) -> tuple[dict[str, Any], list[ConditionUpdate]]:
    """The status fields (camelCase, ready to patch) and the Reindexing and CutoverBlocked conditions for
    ``generations`` at ``now``; ``progress`` is asked about the building one only."""
    live = in_state(generations, GenerationState.LIVE)
    rows, condition, blocked = [], conditions.not_reindexing(), conditions.cutover_not_blocked()
    for generation in generations:
        documents = done = eta = None
        if generation.state is GenerationState.BUILDING:
            documents, missing, _ = progress(generation.id)
            done = documents - missing
            eta = _time(estimated_completion(generation, documents, done, now))
            condition = conditions.reindexing(generation.id, done, documents, eta)
            if generation.blocked_reason is not None:
                message = f"generation {generation.id}: {generation.blocked_message or ''}"
                blocked = conditions.cutover_blocked(generation.blocked_reason, message)
        chunking = generation.profile.chunking
        rows.append(
            GenerationStatus(
                id=generation.id,
                state=generation.state.value,
                model=generation.profile.embedding.key,
                chunking=f"{chunking.strategy} {chunking.size}/{chunking.overlap} {chunking.tokenizer}",
                fingerprint=generation.fingerprint,
                profile=generation.profile,
                created=_time(generation.created_at),
                live_since=_time(generation.live_since),
                documents=documents,
                done=done,
                eta=eta,
                approved=generation.approved_at is not None if documents is not None else None,
            ).model_dump(by_alias=True, mode="json", exclude_none=True)
        )
    return {"liveGeneration": live.id if live is not None else None, "generations": rows}, [
        condition,
        blocked,
    ]


def _time(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None
