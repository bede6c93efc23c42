"""A RagPipeline in a cluster as the CLI reaches it (the kubeconfig's credentials, or a pod's): its index
generations from ``status`` in the shape ``GET /v1/generations`` answers locally, the approval annotation,
and the profile in ``spec`` (``embedding`` and ``chunking``) that a rollback or a reindex sets.

The CLI never talks to the stores of a cluster: the operator publishes what PostgreSQL's registry says in
the RagPipeline's status, and the embedding engine acts on the spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faro_workloads.contract.api import GROUP, RAGPIPELINE, VERSION, qualified_key
from faro_workloads.contract.generations import APPROVE_ANNOTATION
from faro_workloads.contract.index_profile import IndexProfile
from faro_workloads.errors import ConfigurationError, DependencyUnavailable, InputError


class KubernetesUnavailable(DependencyUnavailable):
    dependency = "the Kubernetes API"


class NoKubernetesCredentials(ConfigurationError):
    """No kubeconfig (nor in-cluster account) to reach a cluster with: this side's to set, not an outage."""


@dataclass(frozen=True, slots=True)
class ClusterPipeline:
    """RagPipeline ``name`` in ``namespace``, through ``api`` (a ``kubernetes`` ``CustomObjectsApi``)."""

    name: str
    namespace: str
    api: Any

    @classmethod
    def connect(cls, name: str, namespace: str | None) -> ClusterPipeline:
        """Through the kubeconfig (or in-cluster credentials); ``namespace`` defaults to the context's."""
        from kubernetes import client, config

        from faro_operator.runner import load_api_client

        try:
            api = load_api_client()
        except config.ConfigException as exc:
            raise NoKubernetesCredentials(f"no Kubernetes credentials: {exc}") from None
        if namespace is None:
            try:
                namespace = config.list_kube_config_contexts()[1]["context"].get("namespace") or "default"
            except (config.ConfigException, KeyError, TypeError):
                namespace = "default"
        return cls(name, namespace, client.CustomObjectsApi(api))

    def get(self) -> dict[str, Any]:
        return self._call(
            self.api.get_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            RAGPIPELINE.plural,
            self.name,
        )

    def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(
            self.api.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            RAGPIPELINE.plural,
            self.name,
            body,
        )

    def generations(self) -> dict[str, Any]:
        """The generations as ``GET /v1/generations`` gives them (see :func:`generations_view`)."""
        return generations_view(self.get())

    def approve(self, generation: int) -> dict[str, Any]:
        """Annotate the pipeline to approve the cutover to the building ``generation``."""
        require_state(self.generations(), generation, "Building")
        self.patch({"metadata": {"annotations": {qualified_key(APPROVE_ANNOTATION): str(generation)}}})
        return self.generations()

    def set_profile(self, profile: IndexProfile) -> None:
        """Set ``spec.embedding`` and ``spec.chunking`` to ``profile``'s (the gateway and the rest stay)."""
        embedding, chunking = profile.embedding, profile.chunking
        self.patch(
            {
                "spec": {
                    "embedding": {
                        "provider": embedding.provider,
                        "model": embedding.model,
                        "dimension": embedding.dimension,
                    },
                    "chunking": {
                        "strategy": chunking.strategy,
                        "size": chunking.size,
                        "overlap": chunking.overlap,
                    },
                }
            }
        )

    def _call(self, method: Any, *args: Any) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return method(*args)
        except ApiException as exc:
            if exc.status == 404:
                raise InputError(f"RagPipeline {self.namespace}/{self.name} does not exist") from None
            if exc.status in (400, 422):
                raise InputError(f"RagPipeline {self.namespace}/{self.name}: {exc.reason}") from None
            raise KubernetesUnavailable(f"{exc.status} {exc.reason}") from None
        except HTTPError as exc:
            raise KubernetesUnavailable(str(exc)) from None


def generations_view(pipeline: dict[str, Any]) -> dict[str, Any]:
    """A RagPipeline's ``status.generations`` and ``CutoverBlocked`` condition in the shape of the local
    API's answer (``live``, ``generations`` with ``id``, ``state``, ``summary``, times and progress,
    ``blocked``)."""
    status = pipeline.get("status") or {}
    rows = []
    for row in status.get("generations") or []:
        rows.append(
            {
                "id": row["id"],
                "state": row["state"],
                "summary": f"{row['model']} · {row['chunking']}",
                "profile": row.get("profile"),
                "created_at": row.get("created"),
                "live_since": row.get("liveSince"),
                "retired_at": None,
                "approved": bool(row.get("approved")),
                "documents": row.get("documents"),
                "done": row.get("done"),
                "eta": row.get("eta"),
            }
        )
    blocked = next(
        (
            c
            for c in status.get("conditions") or []
            if c.get("type") == "CutoverBlocked" and c.get("status") == "True"
        ),
        None,
    )
    building = next((row["id"] for row in rows if row["state"] == "Building"), None)
    return {
        "live": status.get("liveGeneration"),
        "generations": rows,
        "blocked": {"generation": building, "reason": blocked["reason"], "message": blocked["message"]}
        if blocked and building is not None
        else None,
    }


def require_state(view: dict[str, Any], generation: int, state: str) -> dict[str, Any]:
    """The row of ``generation`` in ``view``; :class:`InputError` unless it exists in ``state``."""
    row = next((g for g in view["generations"] if g["id"] == generation), None)
    if row is None:
        raise InputError(f"generation {generation} does not exist")
    if row["state"] != state:
        raise InputError(f"generation {generation} is {row['state']}, not {state}")
    return row


def rollback_target(view: dict[str, Any], generation: int | None) -> IndexProfile:
    """The profile to set back: ``generation``'s (it must be Retired), or the most recent retired one's."""
    if generation is None:
        retired = [g for g in view["generations"] if g["state"] == "Retired"]
        if not retired:
            raise InputError("no retired generation to roll back to (retainGenerations may be 0)")
        row = max(retired, key=lambda g: g["id"])
    else:
        row = require_state(view, generation, "Retired")
    if not row.get("profile"):
        raise InputError(f"generation {row['id']}'s profile is not in the status yet: upgrade the operator")
    return IndexProfile.model_validate(row["profile"])
