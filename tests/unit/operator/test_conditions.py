"""Status conditions: transition times, observedGeneration, the Ready summary."""

from __future__ import annotations

from faro_operator.conditions import ConditionUpdate, merge_conditions, ready_summary


def test_transition_time_changes_only_when_the_status_changes() -> None:
    first = merge_conditions([], [ConditionUpdate("QdrantReady", "False", "Unreachable", "down")], 1, "T1")
    same = merge_conditions(
        first, [ConditionUpdate("QdrantReady", "False", "Unreachable", "still down")], 2, "T2"
    )
    assert same[0]["lastTransitionTime"] == "T1" and same[0]["message"] == "still down"
    assert same[0]["observedGeneration"] == 2
    flipped = merge_conditions(
        same, [ConditionUpdate("QdrantReady", "True", "CollectionReady", "up")], 2, "T3"
    )
    assert flipped[0]["lastTransitionTime"] == "T3" and flipped[0]["reason"] == "CollectionReady"


def test_conditions_not_updated_are_kept_and_the_list_is_ordered_by_type() -> None:
    current = merge_conditions([], [ConditionUpdate("SpecValid", "True", "Valid", "ok")], 1, "T1")
    merged = merge_conditions(
        current, [ConditionUpdate("EmbedderReady", "False", "ReplicasUnavailable", "0/1")], 1, "T2"
    )
    assert [c["type"] for c in merged] == ["EmbedderReady", "SpecValid"]


def test_ready_names_the_first_condition_that_is_not_true() -> None:
    ready = ready_summary(
        [
            ConditionUpdate("SpecValid", "True", "Valid", "ok"),
            ConditionUpdate("CollectionReady", "Unknown", "CollectionPending", "not reconciled yet"),
            ConditionUpdate("EmbedderReady", "False", "ReplicasUnavailable", "0/2 replicas available"),
        ]
    )
    assert (ready.status, ready.reason) == ("Unknown", "CollectionPending")
    assert ready.message.startswith("CollectionReady:")


def test_optional_apis_are_reported_but_do_not_make_the_resource_unready() -> None:
    ready = ready_summary(
        [
            ConditionUpdate("ChunkerReady", "True", "ReplicasAvailable", "1/1 available"),
            ConditionUpdate("OptionalApisReady", "False", "ApiNotServed", "ServiceMonitor"),
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
