"""The pipeline's workload components and the names of their children."""

from __future__ import annotations

from enum import StrEnum

from faro_operator.builders.naming import MAX_CRONJOB_NAME, MAX_NAME, child_name
from faro_operator.specs import ComponentSpec, RagPipelineSpec


class Component(StrEnum):
    """A part of a RagPipeline that runs pods; the value is the ``app.kubernetes.io/component`` label."""

    CHUNKER = "chunker"
    EMBEDDER = "embedder"
    QUERY = "query"
    CONSISTENCY = "consistency"


DEPLOYED = (Component.CHUNKER, Component.EMBEDDER, Component.QUERY)
"""The components that run as Deployments, in the order they are built."""

SETTINGS = "settings"
"""Component label of the settings ConfigMap."""
NETWORK = "network"
"""Component label of the NetworkPolicy."""
MONITORING = "monitoring"
"""Component label of ServiceMonitors."""


def component_name(pipeline: str, component: Component | str) -> str:
    """Name of a component's Deployment, Service and ServiceAccount (or of the consistency CronJob).

    ``component`` may be given by its value, e.g. ``"query"``.
    """
    component = Component(component)
    limit = MAX_CRONJOB_NAME if component is Component.CONSISTENCY else MAX_NAME
    return child_name(pipeline, component.value, limit)


def settings_configmap_name(pipeline: str) -> str:
    """Name of the pipeline's settings ConfigMap."""
    return child_name(pipeline, SETTINGS)


def component_spec(spec: RagPipelineSpec, component: Component) -> ComponentSpec | None:
    """The replicas/resources/image/IAM role of a Deployment component (None for the consistency job)."""
    return {
        Component.CHUNKER: spec.chunker,
        Component.EMBEDDER: spec.embedder,
        Component.QUERY: spec.query_service,
    }.get(component)


def is_enabled(spec: RagPipelineSpec, component: Component) -> bool:
    """Whether the pipeline runs ``component``: the query service can be switched off."""
    return spec.query.enabled if component is Component.QUERY else True
