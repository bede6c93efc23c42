"""Kubernetes-style status conditions: one per type, CamelCase reasons, and a Ready summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True)
class ConditionUpdate:
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


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
        by_type[update.type] = {
            "type": update.type,
            "status": update.status,
            "reason": update.reason,
            "message": update.message,
            "lastTransitionTime": now if changed else previous.get("lastTransitionTime", now),  # type: ignore[union-attr]
            "observedGeneration": generation,
        }
    return [by_type[t] for t in sorted(by_type)]


# Reported, but not part of Ready: a cluster without the Prometheus Operator still runs the pipeline.
INFORMATIONAL_CONDITIONS = frozenset({"MonitoringReady", "OptionalApisReady"})


def ready_summary(updates: list[ConditionUpdate]) -> ConditionUpdate:
    """Ready is True when every other (non-informational) condition is True; else it names the first one
    that is not."""
    for update in updates:
        if update.type != "Ready" and update.type not in INFORMATIONAL_CONDITIONS and update.status != "True":
            status: ConditionStatus = "False" if update.status == "False" else "Unknown"
            return ConditionUpdate("Ready", status, update.reason, f"{update.type}: {update.message}")
    return ConditionUpdate("Ready", "True", "AllComponentsReady", "every component is ready")
