"""A RagPipeline's status for its Collection's index generations: the live one, each generation's model and
chunking, the building one's progress, and the informational Reindexing condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from faro_operator.generation_status import generation_status
from faro_workloads.contract.generations import CutoverBlock, Generation, GenerationState
from faro_workloads.contract.index_profile import ChunkingIdentity, EmbeddingIdentity, IndexProfile

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


def generation(id_: int, model: str, state: GenerationState) -> Generation:
    profile = IndexProfile(
        embedding=EmbeddingIdentity(provider="openai", model=model, dimension=8),
        chunking=ChunkingIdentity(strategy="markdown", size=250, overlap=32, tokenizer="chars/4"),
    )
    live_since = T0 if state is GenerationState.LIVE else None
    return Generation(id=id_, profile=profile, state=state, created_at=T0, live_since=live_since)


def test_a_building_generation_shows_its_progress_and_reindexing() -> None:
    asked: list[int] = []

    def progress(generation_id: int) -> tuple[int, int, int]:
        asked.append(generation_id)
        return 40, 10, 0

    building = generation(2, "b", GenerationState.BUILDING).model_copy(
        update={"blocked_reason": CutoverBlock.AWAITING_APPROVAL, "blocked_message": "approve it"}
    )
    fields, (condition, blocked) = generation_status(
        [generation(1, "a", GenerationState.LIVE), building], progress, T0 + timedelta(minutes=30)
    )

    assert asked == [2] and fields["liveGeneration"] == 1
    assert [
        (g["id"], g["state"], g["model"], g.get("done"), g.get("documents")) for g in fields["generations"]
    ] == [
        (1, "Live", "openai:a@8", None, None),
        (2, "Building", "openai:b@8", 30, 40),
    ]
    assert fields["generations"][0]["chunking"] == "markdown 250/32 chars/4"
    assert fields["generations"][0]["liveSince"] == "2026-12-06T03:00:00Z"
    assert (condition.type, condition.status, condition.reason) == (
        "Reindexing",
        "True",
        "GenerationBuilding",
    )
    assert fields["generations"][1]["approved"] is False and "approved" not in fields["generations"][0]
    # 30 documents in the 30 minutes since it was created: the last 10 take 10 more
    assert fields["generations"][1]["eta"] == "2026-12-06T03:40:00Z" and "eta" not in fields["generations"][0]
    assert (
        condition.message == "generation 2 builds: 30 of 40 documents (75%), done about 2026-12-06T03:40:00Z"
    )
    assert (blocked.type, blocked.status, blocked.reason) == ("CutoverBlocked", "True", "AwaitingApproval")
    assert blocked.message == "generation 2: approve it"


def test_without_a_building_generation_the_profile_is_current() -> None:
    fields, (condition, blocked) = generation_status(
        [generation(1, "a", GenerationState.RETIRED), generation(2, "b", GenerationState.LIVE)],
        lambda generation_id: (_ for _ in ()).throw(AssertionError("nothing builds")),
        T0,
    )
    assert fields["liveGeneration"] == 2
    assert (condition.status, condition.reason) == ("False", "ProfileCurrent")
    assert (blocked.status, blocked.reason) == ("False", "NotBlocked")
    assert generation_status([], lambda _: (0, 0, 0), T0)[0] == {"liveGeneration": None, "generations": []}


def test_no_estimate_before_the_first_document_or_once_all_are_there() -> None:
    building = generation(2, "b", GenerationState.BUILDING)
    later = T0 + timedelta(minutes=5)
    for documents, done in ((40, 0), (40, 40), (0, 0)):
        counts = (documents, documents - done, 0)
        fields, (condition, _) = generation_status([building], lambda _, counts=counts: counts, later)
        assert "eta" not in fields["generations"][0] and "done about" not in (condition.message or "")
