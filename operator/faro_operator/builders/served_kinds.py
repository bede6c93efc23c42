"""Which API versions of the optional kinds a cluster serves, and which one to render."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from faro_operator.builders.consistency_cronjob import CRONJOB_V1, CRONJOB_V1BETA1
from faro_operator.builders.qdrant_bridge import ENDPOINTSLICE_V1, ENDPOINTSLICE_V1BETA1
from faro_operator.builders.service_monitors import SERVICE_MONITOR_API_VERSION


class KindCatalog(Protocol):
    """Anything that knows whether the cluster serves a kind, e.g. ``faro_operator.discovery.ServedKinds``."""

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether ``kind`` is served in ``api_version`` (e.g. ``"batch/v1"``, ``"CronJob"``)."""
        ...


ServedKinds = KindCatalog | frozenset[tuple[str, str]]
"""The kinds a cluster serves: a :class:`KindCatalog`, or a set of (apiVersion, kind) pairs."""

CRONJOB = "CronJob"
HPA = "HorizontalPodAutoscaler"
PDB = "PodDisruptionBudget"
SCALED_OBJECT = "ScaledObject"
TRIGGER_AUTHENTICATION = "TriggerAuthentication"
KEDA_API_VERSION = "keda.sh/v1alpha1"
ENDPOINTSLICE = "EndpointSlice"
SERVICE_MONITOR = "ServiceMonitor"

CRONJOB_VERSIONS = (CRONJOB_V1, CRONJOB_V1BETA1)
ENDPOINTSLICE_VERSIONS = (ENDPOINTSLICE_V1, ENDPOINTSLICE_V1BETA1)
SERVICE_MONITOR_VERSIONS = (SERVICE_MONITOR_API_VERSION,)
HPA_VERSIONS = ("autoscaling/v2", "autoscaling/v2beta2")
PDB_VERSIONS = ("policy/v1", "policy/v1beta1")

ALL_OPTIONAL_KINDS: frozenset[tuple[str, str]] = frozenset(
    {(version, CRONJOB) for version in CRONJOB_VERSIONS}
    | {(version, ENDPOINTSLICE) for version in ENDPOINTSLICE_VERSIONS}
    | {(version, SERVICE_MONITOR) for version in SERVICE_MONITOR_VERSIONS}
    | {(version, HPA) for version in HPA_VERSIONS}
    | {(version, PDB) for version in PDB_VERSIONS}
    | {(KEDA_API_VERSION, SCALED_OBJECT), (KEDA_API_VERSION, TRIGGER_AUTHENTICATION)}
)
"""Every optional kind in every version the builders render (a cluster that serves everything)."""


def is_served(served: ServedKinds, api_version: str, kind: str) -> bool:
    """Whether ``served`` includes ``kind`` in ``api_version``."""
    if isinstance(served, frozenset):
        return (api_version, kind) in served
    return served.serves(api_version, kind)


def preferred_version(served: ServedKinds, kind: str, versions: Sequence[str]) -> str | None:
    """The first of ``versions`` (newest first) in which the cluster serves ``kind``, or None."""
    return next((version for version in versions if is_served(served, version, kind)), None)


def skipped_kind(kind: str, versions: Sequence[str]) -> str:
    """How a wanted but unserved kind is reported, e.g. ``"ServiceMonitor (monitoring.coreos.com/v1)"``."""
    return f"{kind} ({' or '.join(versions)})"
