"""Status conditions: transition times, observedGeneration, the Ready summary."""

from __future__ import annotations

from faro_operator.conditions import merge_conditions, ready_summary
from faro_workloads.contract import conditions
from faro_workloads.contract.generations import CutoverBlock


def test_transition_time_changes_only_when_the_status_changes() -> None:
    first = merge_conditions([], [conditions.qdrant_unreachable("down")], 1, "T1")
    same = merge_conditions(first, [conditions.qdrant_unreachable("still down")], 2, "T2")
    assert same[0]["lastTransitionTime"] == "T1" and same[0]["message"] == "still down"
    assert same[0]["observedGeneration"] == 2
    flipped = merge_conditions(same, [conditions.qdrant_collection_ready()], 2, "T3")
    assert flipped[0]["lastTransitionTime"] == "T3" and flipped[0]["reason"] == "CollectionReady"
    assert flipped == [
        {
            "type": "QdrantReady",
            "status": "True",
            "reason": "CollectionReady",
            "message": "collection exists",
            "lastTransitionTime": "T3",
            "observedGeneration": 2,
        }
    ]
    assert all(type(value) is str for value in flipped[0].values() if not isinstance(value, int))


def test_conditions_not_updated_are_kept_and_the_list_is_ordered_by_type() -> None:
    current = merge_conditions([], [conditions.spec_accepted()], 1, "T1")
    merged = merge_conditions(
        current, [conditions.replicas_unavailable(conditions.ConditionType.EMBEDDER_READY, 0, 1)], 1, "T2"
    )
    assert [c["type"] for c in merged] == ["EmbedderReady", "SpecValid"]


def test_ready_names_the_first_condition_that_is_not_true() -> None:
    ready = ready_summary(
        [
            conditions.spec_accepted(),
            conditions.collection_pending(),
            conditions.replicas_unavailable(conditions.ConditionType.EMBEDDER_READY, 0, 2),
        ]
    )
    assert (ready.status, ready.reason) == ("Unknown", "CollectionPending")
    assert ready.message.startswith("CollectionReady:")


def test_optional_apis_are_reported_but_do_not_make_the_resource_unready() -> None:
    ready = ready_summary(
        [
            conditions.replicas_available(conditions.ConditionType.CHUNKER_READY, 1, 1),
            conditions.apis_not_served(["ServiceMonitor"]),
        ]
    )
    assert (ready.status, ready.reason) == ("True", "AllComponentsReady")


def test_a_reconcile_that_raises_is_counted_as_an_error_and_propagates() -> None:
    import pytest
    from prometheus_client import REGISTRY

    from faro_operator.metrics import measured_reconcile

    def count(result: str) -> float:
        return (
            REGISTRY.get_sample_value("faro_operator_reconciles_total", {"kind": "Test", "result": result})
            or 0
        )

    def failing() -> str:
        raise RuntimeError("API server unavailable")

    with pytest.raises(RuntimeError):
        measured_reconcile("Test", failing)
    measured_reconcile("Test", lambda: "ok")
    assert (count("error"), count("ok")) == (1, 1)


def test_reindexing_posts_an_event_when_a_reindex_starts_and_ends_never_a_warning(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import kopf

    from faro_operator.reconcile_events import write_conditions

    posted: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "info", lambda body, reason, message: posted.append(("info", reason)))
    monkeypatch.setattr(kopf, "warn", lambda body, reason, message: posted.append(("warn", reason)))

    def reconcile(status: dict, reindexing: conditions.ConditionUpdate) -> dict:
        body = kopf.Body({"metadata": {"name": "p", "namespace": "n", "generation": 1}, "status": status})
        patch = kopf.Patch()
        write_conditions(body, patch, [conditions.spec_accepted(), reindexing])
        return {"conditions": patch["status"]["conditions"]}

    first = reconcile({}, conditions.not_reindexing())
    assert posted == [("info", "AllComponentsReady")]  # Ready; nothing about an idle Reindexing
    building = reconcile(first, conditions.reindexing(2, 1, 4))
    assert posted[1:] == [("info", "GenerationBuilding")]
    reconcile(building, conditions.not_reindexing())
    assert posted[2:] == [("info", "ProfileCurrent")]
    blocked = reconcile(first, conditions.cutover_blocked(CutoverBlock.STORES_DISAGREE, "3 points missing"))
    assert posted[3:] == [("warn", "StoresDisagree")]  # someone has to act
    reconcile(blocked, conditions.cutover_not_blocked())
    assert posted[4:] == [("info", "NotBlocked")]
