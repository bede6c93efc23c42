"""Kubernetes-style status conditions: one per type, and a Ready summary. Which types and reasons exist is
the contract's catalogue (:mod:`faro_workloads.contract.conditions`); this is how they are merged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faro_workloads.contract.conditions import (
    INFORMATIONAL_CONDITIONS,
    ConditionType,
    ConditionUpdate,
    all_components_ready,
    not_ready,
)


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def merge_conditions(
    current: list[dict[str, Any]], updates: list[ConditionUpdate], generation: int | None, now: str
) -> list[dict[str, Any]]:
    """``current`` with ``updates`` applied. lastTransitionTime changes only when a condition's status
    changes; conditions not updated are kept as they are. Ordered by type for stable status patches."""
    by_type = {c["type"]: dict(c) for c in current}
    for update in updates:
        previous = by_type.get(update.type)
        changed = previous is None or previous.get("status") != update.status
        by_type[str(update.type)] = {
            "type": str(update.type),
            "status": update.status,
            "reason": str(update.reason),
            "message": update.message,
            "lastTransitionTime": now if changed else previous.get("lastTransitionTime", now),  # type: ignore[union-attr]
            "observedGeneration": generation,
        }
    return [by_type[t] for t in sorted(by_type)]


def ready_summary(updates: list[ConditionUpdate]) -> ConditionUpdate:
    """Ready is True when every other (non-informational) condition is True; else it names the first one
    that is not."""
    for update in updates:
        if (
            update.type != ConditionType.READY
            and update.type not in INFORMATIONAL_CONDITIONS
            and update.status != "True"
        ):
            return not_ready(update)
    return all_components_ready()
