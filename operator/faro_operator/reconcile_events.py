"""Turning a reconcile's findings into status conditions and the events ``kubectl describe`` shows."""

from __future__ import annotations

from typing import Any

import kopf

from faro_operator.conditions import merge_conditions, now_rfc3339, ready_summary
from faro_workloads.contract.conditions import RETIRED_CONDITIONS, ConditionType, ConditionUpdate


def write_conditions(body: kopf.Body, patch: kopf.Patch, updates: list[ConditionUpdate]) -> dict[str, Any]:
    """Set the conditions (plus the Ready summary) and observedGeneration in the status patch; post an
    event for every condition whose status changed. Returns the Ready condition.

    Conditions of a retired type (an earlier name) are dropped, so a renamed one is not shown twice."""
    status = body.get("status") or {}
    kept = [c for c in status.get("conditions", []) if c.get("type") not in RETIRED_CONDITIONS]
    current = {c["type"]: c for c in kept}
    generation = body.get("metadata", {}).get("generation")
    everything = [*updates, ready_summary(updates)]
    for update in everything:
        previous = current.get(update.type)
        if update.type in (ConditionType.REINDEXING, ConditionType.CUTOVER_BLOCKED):
            # Informational, and False is the usual state: an event when it turns True or back, and a
            # warning only for a blocked cutover (someone has to act: approve, upload, repair).
            if (previous or {}).get("status", "False") != update.status:
                blocked = update.type == ConditionType.CUTOVER_BLOCKED and update.status == "True"
                post = kopf.warn if blocked else kopf.info
                post(body, reason=update.reason, message=f"{update.type}: {update.message}")
            continue
        if previous is None or previous.get("status") != update.status:
            if update.status == "False":
                kopf.warn(body, reason=update.reason, message=f"{update.type}: {update.message}")
            elif update.type == ConditionType.READY and update.status == "True":
                kopf.info(body, reason=update.reason, message="ready")
    conditions = merge_conditions(kept, everything, generation, now_rfc3339())
    patch.status["conditions"] = conditions
    patch.status["observedGeneration"] = generation
    return next(c for c in conditions if c["type"] == ConditionType.READY)
