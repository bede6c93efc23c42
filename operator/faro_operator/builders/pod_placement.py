"""Where a component's pods go: spread across zones, then across nodes within a zone, as a preference
(``ScheduleAnyway``), so that a single-zone or single-node cluster still schedules every pod and a zone's
loss takes at most its share of each component."""

from __future__ import annotations

from typing import Any

from faro_operator.builders.labels import selector_labels
from faro_operator.builders.owner import Owner

SPREAD_KEYS = ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
"""Spread across zones first, then across nodes within a zone."""


def topology_spread(owner: Owner, component: str) -> list[dict[str, Any]]:
    """A pod template's preference to spread ``component``'s pods across zones, then nodes."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector_labels(owner, component)},
        }
        for key in SPREAD_KEYS
    ]
