"""How a pipeline's pods ride out voluntary disruptions (node drains, cluster upgrades): a
PodDisruptionBudget per Deployment component (the pods are spread across zones and nodes by their template:
:mod:`.pod_placement`).

The budget allows one pod of a component down at a time (``maxUnavailable: 1``): a drain never takes a
component's every replica at once, and a single-replica component can still be drained (a ``minAvailable:
1`` budget would block the drain for ever). The spread is a preference (``ScheduleAnyway``): a single-zone
cluster still schedules every pod.
"""

from __future__ import annotations

from faro_operator.builders.components import DEPLOYED, component_name, is_enabled
from faro_operator.builders.labels import object_meta, selector_labels
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.served_kinds import (
    PDB,
    PDB_VERSIONS,
    ServedKinds,
    preferred_version,
    skipped_kind,
)
from faro_operator.specs import RagPipelineSpec


def build_disruption_budgets(
    owner: Owner, spec: RagPipelineSpec, served: ServedKinds
) -> tuple[list[Manifest], list[str]]:
    """The PodDisruptionBudgets of the enabled Deployment components (``policy/v1``, else ``v1beta1``), or
    none and the kind reported as skipped."""
    version = preferred_version(served, PDB, PDB_VERSIONS)
    if version is None:
        return [], [skipped_kind(PDB, PDB_VERSIONS)]
    return [
        {
            "apiVersion": version,
            "kind": PDB,
            "metadata": object_meta(owner, component_name(owner.name, component), component.value),
            "spec": {
                "maxUnavailable": 1,
                "selector": {"matchLabels": selector_labels(owner, component.value)},
            },
        }
        for component in DEPLOYED
        if is_enabled(spec, component)
    ], []
