"""Turning a reconcile's findings into status conditions and the events ``kubectl describe`` shows."""

from __future__ import annotations

from typing import Any

import kopf

from faro_operator.conditions import ConditionUpdate, merge_conditions, now_rfc3339, ready_summary


def write_conditions(body: kopf.Body, patch: kopf.Patch, updates: list[ConditionUpdate]) -> dict[str, Any]:
    """Set the conditions (plus the Ready summary) and observedGeneration in the status patch; post an
    event for every condition whose status changed. Returns the Ready condition."""
    status = body.get("status") or {}
    current = {c["type"]: c for c in status.get("conditions", [])}
    generation = body.get("metadata", {}).get("generation")
    everything = [*updates, ready_summary(updates)]
    for update in everything:
        previous = current.get(update.type)
        if previous is None or previous.get("status") != update.status:
            if update.status == "False":
                kopf.warn(body, reason=update.reason, message=f"{update.type}: {update.message}")
            elif update.type == "Ready" and update.status == "True":
                kopf.info(body, reason=update.reason, message="ready")
    conditions = merge_conditions(status.get("conditions", []), everything, generation, now_rfc3339())
    patch.status["conditions"] = conditions
    patch.status["observedGeneration"] = generation
    return next(c for c in conditions if c["type"] == "Ready")
