"""The NetworkPolicy of a pipeline's pods: ingress restricted, egress left open."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faro_operator.builders.components import NETWORK
from faro_operator.builders.deployments import HTTP_PORT_NAME, METRICS_PORT_NAME
from faro_operator.builders.labels import object_meta, owner_label_key
from faro_operator.builders.naming import child_name, label_value
from faro_operator.builders.owner import Manifest, Owner

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by Kubernetes (1.21+) on every namespace: selects a namespace by its name."""


def build_network_policy(owner: Owner, ingress_namespaces: Sequence[str] = ()) -> Manifest:
    """NetworkPolicy ``<pipeline>-ingress`` for all of the pipeline's pods.

    Ingress: only the ``http`` (8080) and ``metrics`` (9090) container ports, from pods of the pipeline's
    own namespace and from the namespaces in ``ingress_namespaces`` (e.g. the monitoring namespace whose
    Prometheus scrapes the pods, or an ingress controller's). Everything else inbound is dropped (the
    consistency job's pods listen on nothing).

    Egress is not restricted (the policy type is Ingress only, so DNS keeps working too): the pods call S3,
    SQS, PostgreSQL, Qdrant and the embedding gateway at addresses unknown here (AWS endpoints, managed
    databases, external hosts behind DNS names whose IPs change), which NetworkPolicy cannot express.
    """
    peers: list[dict[str, Any]] = [{"podSelector": {}}]
    peers += [
        {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}
        for namespace in sorted(set(ingress_namespaces))
        if namespace != owner.namespace
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(owner, child_name(owner.name, "ingress"), NETWORK),
        "spec": {
            "podSelector": {"matchLabels": {owner_label_key(owner): label_value(owner.name)}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": peers,
                    "ports": [
                        {"protocol": "TCP", "port": HTTP_PORT_NAME},
                        {"protocol": "TCP", "port": METRICS_PORT_NAME},
                    ],
                }
            ],
        },
    }
