"""What to do about a collection's generations when the wanted index profile is known: a pure decision.

The wanted profile comes from the settings (the RagPipeline's spec in a cluster, the flags of
``faro local``). Compared with the registry (:class:`~faro_workloads.contract.generations.Generation`):

- no generation yet: the first one is registered Live with the wanted profile (a collection made before
  generations existed holds what the settings said when it was filled);
- the live one has the wanted profile: nothing to build, and a building one (of a profile since abandoned)
  is dropped;
- a building one has it: its backfill goes on;
- a retired one has it: it becomes Live at once (rollback; the documents changed since it retired are
  filled afterwards), and a building one is dropped;
- otherwise: a new generation is registered Building (and a building one of another profile dropped).

After a cutover or a rollback, retired generations beyond ``retain`` (the most recently retired kept) are
dropped from both stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from faro_workloads.contract.generations import FIRST_GENERATION, Generation, GenerationState, in_state
from faro_workloads.contract.index_profile import IndexProfile


class Action(StrEnum):
    INITIALIZE = "initialize"
    KEEP = "keep"
    BUILD = "build"
    RESUME = "resume"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class GenerationPlan:
    """``action`` on ``generation`` (the one to build, resume or roll back to, or the live one kept; the
    id to register for INITIALIZE and BUILD), and the generations to ``drop`` first."""

    action: Action
    generation: int
    drop: list[int] = field(default_factory=list)


def plan_generations(wanted: IndexProfile, generations: list[Generation]) -> GenerationPlan:
    """The plan for ``wanted`` over the registered ``generations`` (see the module docstring)."""
    if not generations:
        return GenerationPlan(Action.INITIALIZE, FIRST_GENERATION)
    fingerprint = wanted.fingerprint
    live = in_state(generations, GenerationState.LIVE)
    building = in_state(generations, GenerationState.BUILDING)
    next_id = max(g.id for g in generations) + 1
    if live is not None and live.fingerprint == fingerprint:
        return GenerationPlan(Action.KEEP, live.id, [building.id] if building else [])
    if building is not None and building.fingerprint == fingerprint:
        return GenerationPlan(Action.RESUME, building.id)
    abandoned = [building.id] if building else []
    retired = [g for g in generations if g.state is GenerationState.RETIRED and g.fingerprint == fingerprint]
    if retired:
        return GenerationPlan(Action.ROLLBACK, retired[-1].id, abandoned)
    return GenerationPlan(Action.BUILD, next_id, abandoned)


def beyond_retention(generations: list[Generation], retain: int) -> list[int]:
    """The retired generations to drop so that at most ``retain`` stay (the most recently retired)."""
    retired = [g for g in generations if g.state is GenerationState.RETIRED]
    retired.sort(key=lambda g: (g.retired_at is not None, g.retired_at, g.id), reverse=True)
    return sorted(g.id for g in retired[retain:])
