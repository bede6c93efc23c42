"""The decision over a collection's generations for a wanted index profile: initialize, keep, build,
resume, roll back, and which retired generations retention drops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from faro_workloads.contract.generations import Generation, GenerationState
from faro_workloads.contract.index_profile import ChunkingIdentity, EmbeddingIdentity, IndexProfile
from faro_workloads.core.generation_plan import Action, GenerationPlan, beyond_retention, plan_generations

LIVE, BUILDING, RETIRED = GenerationState.LIVE, GenerationState.BUILDING, GenerationState.RETIRED
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def profile(model: str) -> IndexProfile:
    return IndexProfile(
        embedding=EmbeddingIdentity(provider="hash", model=model, dimension=16),
        chunking=ChunkingIdentity(strategy="recursive", size=64, overlap=0, tokenizer="chars/4"),
    )


def gen(id_: int, model: str, state: GenerationState, retired_hours: int | None = None) -> Generation:
    retired_at = None if retired_hours is None else T0 + timedelta(hours=retired_hours)
    return Generation(id=id_, profile=profile(model), state=state, created_at=T0, retired_at=retired_at)


@pytest.mark.parametrize(
    ("registry", "wanted", "plan"),
    [
        ([], "a", GenerationPlan(Action.INITIALIZE, 1)),
        ([gen(1, "a", LIVE)], "a", GenerationPlan(Action.KEEP, 1)),
        ([gen(1, "a", LIVE), gen(2, "b", BUILDING)], "a", GenerationPlan(Action.KEEP, 1, [2])),
        ([gen(1, "a", LIVE)], "b", GenerationPlan(Action.BUILD, 2)),
        ([gen(1, "a", LIVE), gen(2, "b", BUILDING)], "b", GenerationPlan(Action.RESUME, 2)),
        ([gen(1, "a", LIVE), gen(2, "b", BUILDING)], "c", GenerationPlan(Action.BUILD, 3, [2])),
        ([gen(1, "a", RETIRED, 1), gen(2, "b", LIVE)], "a", GenerationPlan(Action.ROLLBACK, 1)),
        (
            [gen(1, "a", RETIRED, 1), gen(2, "b", LIVE), gen(3, "c", BUILDING)],
            "a",
            GenerationPlan(Action.ROLLBACK, 1, [3]),
        ),
        ([gen(1, "a", RETIRED, 1), gen(2, "b", LIVE)], "c", GenerationPlan(Action.BUILD, 3)),
    ],
    ids=[
        "first",
        "unchanged",
        "abandoned-building",
        "changed",
        "resumed",
        "changed-again",
        "rollback",
        "rollback-abandons",
        "new-after-retired",
    ],
)
def test_the_plan_for_a_wanted_profile(registry: list[Generation], wanted: str, plan: GenerationPlan) -> None:
    assert plan_generations(profile(wanted), registry) == plan


def test_retention_keeps_the_most_recently_retired() -> None:
    registry = [
        gen(1, "a", RETIRED, retired_hours=1),
        gen(2, "b", RETIRED, retired_hours=3),
        gen(3, "c", RETIRED, retired_hours=2),
        gen(4, "d", LIVE),
        gen(5, "e", BUILDING),
    ]
    assert beyond_retention(registry, retain=1) == [1, 3]
    assert beyond_retention(registry, retain=2) == [1]
    assert beyond_retention(registry, retain=0) == [1, 2, 3]
    assert beyond_retention(registry, retain=5) == []
