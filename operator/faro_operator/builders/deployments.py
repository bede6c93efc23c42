"""The Deployments of the chunking service, the embedding engine and the query service."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faro_operator.builders.access_rbac import reviews_tokens
from faro_operator.builders.api_keys import api_keys_mount
from faro_operator.builders.component_env import component_env, secrets_mount, volume_secrets
from faro_operator.builders.components import (
    DEPLOYED,
    Component,
    component_name,
    component_spec,
    is_enabled,
    settings_configmap_name,
)
from faro_operator.builders.golden_queries import golden_queries_volume
from faro_operator.builders.labels import object_meta, selector_labels, standard_labels
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.pod_placement import topology_spread
from faro_operator.builders.pod_security import (
    container_resources,
    container_security_context,
    image_fields,
    pod_security_context,
    tmp_volume,
    tmp_volume_mount,
)
from faro_operator.builders.resolved_collection import ResolvedCollection
from faro_operator.builders.settings_configmap import CHECKSUM_ANNOTATION, SECRETS_ANNOTATION
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.shutdown import (
    EMBEDDER_DRAIN_SECONDS,
    ENDPOINT_REMOVAL_SECONDS,
    HTTP_DRAIN_SECONDS,
    KILL_MARGIN_SECONDS,
)

HTTP_PORT = 8080
METRICS_PORT = 9090
HTTP_PORT_NAME = "http"
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True)
class _Profile:
    """How one component's container is run."""

    args: tuple[str, ...]
    port_name: str
    port: int
    termination_grace_seconds: int
    pre_stop_pause_seconds: int = 0


def _http_service(name: str) -> _Profile:
    """An HTTP service: a preStop pause while endpoints drop the pod, then open requests drain; the
    kubelet's SIGKILL comes after both."""
    return _Profile(
        ("serve", name, "--host", "0.0.0.0", "--port", str(HTTP_PORT)),
        HTTP_PORT_NAME,
        HTTP_PORT,
        ENDPOINT_REMOVAL_SECONDS + HTTP_DRAIN_SECONDS + KILL_MARGIN_SECONDS,
        pre_stop_pause_seconds=ENDPOINT_REMOVAL_SECONDS,
    )


_PROFILES = {
    Component.CHUNKER: _http_service("chunker"),
    Component.QUERY: _http_service("query"),
    # No traffic comes in (SQS is pulled), so no pause: the worker's own drain, then the SIGKILL.
    Component.EMBEDDER: _Profile(
        (
            "serve",
            "embedder",
            "--host",
            "0.0.0.0",
            "--port",
            str(METRICS_PORT),
            "--shutdown-grace",
            str(EMBEDDER_DRAIN_SECONDS),
        ),
        METRICS_PORT_NAME,
        METRICS_PORT,
        EMBEDDER_DRAIN_SECONDS + KILL_MARGIN_SECONDS,
    ),
}


def component_port(component: Component) -> tuple[str, int]:
    """The (name, number) of the container port a Deployment component listens on."""
    profile = _PROFILES[component]
    return profile.port_name, profile.port


def _probe(path: str, port_name: str, *, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port_name},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def build_component_deployment(
    component: Component,
    owner: Owner,
    spec: RagPipelineSpec,
    collection: ResolvedCollection,
    config_checksum: str,
    secret_versions: Mapping[str, str] | None = None,
) -> Manifest:
    """The Deployment ``<pipeline>-<component>`` of the chunker, embedder or query service.

    Its container runs ``faro serve <component>`` with the settings ConfigMap as ``envFrom``, the secrets
    the component needs as files of a read-only volume (:func:`secrets_mount`), liveness ``/healthz`` and
    readiness ``/readyz`` (a startup probe gives slow starts a minute), a hardened security context and a
    ``/tmp`` emptyDir. ``config_checksum`` (:func:`settings_checksum`) is a pod-template annotation, so
    settings changes roll the pods; so is, given ``secret_versions`` (Secret name -> resourceVersion, as the
    cluster has them), a checksum of the versions of the Secrets of those files: a rotated DSN or model key
    rolls exactly the pods that read it at start. (The keys file is mounted and re-read: its rotation rolls
    nothing.) Only the services that review service-account tokens mount an API token.
    """
    profile = _PROFILES.get(component)
    settings = component_spec(spec, component)
    if profile is None or settings is None:
        raise ValueError(f"{component} does not run as a Deployment")
    name = component_name(owner.name, component)
    container: dict[str, Any] = {
        "name": component.value,
        **image_fields(settings.image or spec.image),
        "args": list(profile.args),
        "ports": [{"name": profile.port_name, "containerPort": profile.port, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": settings_configmap_name(owner.name)}}],
        "startupProbe": _probe("/healthz", profile.port_name, period=2, failures=30),
        "livenessProbe": _probe("/healthz", profile.port_name, period=10, failures=3),
        "readinessProbe": _probe("/readyz", profile.port_name, period=5, failures=3),
        "resources": container_resources(settings.resources),
        "securityContext": container_security_context(),
        "volumeMounts": [tmp_volume_mount()],
    }
    if profile.pre_stop_pause_seconds:
        # The image's sleep (exec), not the lifecycle sleep action, which older clusters refuse.
        container["lifecycle"] = {
            "preStop": {"exec": {"command": ["sleep", str(profile.pre_stop_pause_seconds)]}}
        }
    env = component_env(component, spec)
    volumes = [tmp_volume()]
    for mounted in (secrets_mount(component, spec, collection), api_keys_mount(spec, component)):
        if mounted is not None:
            volumes.append(mounted[0])
            container["volumeMounts"].append(mounted[1])
            env += mounted[2]
    if env:
        container["env"] = env
    golden = golden_queries_volume(spec) if component is Component.EMBEDDER else None
    if golden is not None:  # the embedding engine runs the cutover gate
        volumes.append(golden[0])
        container["volumeMounts"].append(golden[1])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(owner, name, component.value),
        "spec": {
            # An autoscaled Deployment's replicas are its autoscaler's: the operator does not apply them.
            **({"replicas": settings.replicas} if settings.autoscaling is None else {}),
            "selector": {"matchLabels": selector_labels(owner, component.value)},
            "template": {
                "metadata": {
                    "labels": standard_labels(owner, component.value),
                    "annotations": {
                        CHECKSUM_ANNOTATION: config_checksum,
                        **_secrets_annotation(volumes, secret_versions),
                    },
                },
                "spec": {
                    "serviceAccountName": name,
                    # Only the services that review service-account tokens talk to the Kubernetes API.
                    "automountServiceAccountToken": reviews_tokens(spec, component),
                    # No <SERVICE>_PORT variables: they are noise next to the FARO_* settings.
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": profile.termination_grace_seconds,
                    "topologySpreadConstraints": topology_spread(owner, component.value),
                    "securityContext": pod_security_context(),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def _secrets_annotation(volumes: list[dict[str, Any]], versions: Mapping[str, str] | None) -> dict[str, str]:
    """``faro.dev/secrets-checksum``: SHA-256 of the versions of the Secrets the pod reads at start (its
    secret files; none without ``versions``: ``faro render`` knows no cluster)."""
    if versions is None:
        return {}
    seen = sorted((name, versions.get(name, "")) for name in volume_secrets(volumes))
    return {SECRETS_ANNOTATION: hashlib.sha256(json.dumps(seen).encode()).hexdigest()}


def build_pipeline_deployments(
    owner: Owner,
    spec: RagPipelineSpec,
    collection: ResolvedCollection,
    config_checksum: str,
    secret_versions: Mapping[str, str] | None = None,
) -> list[Manifest]:
    """The Deployments of every enabled component (no query service when ``spec.query.enabled`` is off)."""
    return [
        build_component_deployment(component, owner, spec, collection, config_checksum, secret_versions)
        for component in DEPLOYED
        if is_enabled(spec, component)
    ]
