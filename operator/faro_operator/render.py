"""``faro render``: every child manifest of the custom resources in a file, without a cluster."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from faro_operator.builders.owner import Owner
from faro_operator.builders.resolved_collection import dimension_mismatch, resolve_collection
from faro_operator.builders.served_kinds import (
    CRONJOB,
    CRONJOB_VERSIONS,
    ENDPOINTSLICE,
    ENDPOINTSLICE_VERSIONS,
    HPA,
    HPA_VERSIONS,
    KEDA_API_VERSION,
    PDB,
    PDB_VERSIONS,
    SCALED_OBJECT,
    SERVICE_MONITOR,
    SERVICE_MONITOR_VERSIONS,
    TRIGGER_AUTHENTICATION,
)
from faro_operator.discovery import ServedKinds
from faro_operator.spec_errors import spec_error_message
from faro_operator.specs import CollectionSpec, RagPipelineSpec
from faro_workloads.contract.api import API_VERSION, COLLECTION, GROUP, RAGPIPELINE

SpecT = TypeVar("SpecT", CollectionSpec, RagPipelineSpec)


class RenderError(ValueError):
    """The file does not hold what rendering needs (one readable line)."""


def modern_cluster(service_monitors: bool = True, keda: bool = False) -> ServedKinds:
    """What a current cluster with (or without) the Prometheus Operator and KEDA serves, for rendering
    offline."""
    pairs = {
        (CRONJOB_VERSIONS[0], CRONJOB),
        (ENDPOINTSLICE_VERSIONS[0], ENDPOINTSLICE),
        (HPA_VERSIONS[0], HPA),
        (PDB_VERSIONS[0], PDB),
    }
    if service_monitors:
        pairs.add((SERVICE_MONITOR_VERSIONS[0], SERVICE_MONITOR))
    if keda:
        pairs |= {(KEDA_API_VERSION, SCALED_OBJECT), (KEDA_API_VERSION, TRIGGER_AUTHENTICATION)}
    return ServedKinds(frozenset(pairs))


def render_children(documents: list[dict[str, Any]], served: ServedKinds) -> list[dict[str, Any]]:
    """Children of every Collection and RagPipeline in ``documents`` (a pipeline's Collection must be there).

    Resources without a uid (not read from a cluster) get children without ownerReferences: whoever applies
    the rendered manifests (a GitOps tool) owns them.
    """
    from faro_operator.builders import build_collection_children, build_pipeline_children

    collections: dict[tuple[str, str], CollectionSpec] = {}
    rendered: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    resources = [d for d in documents if isinstance(d, dict) and _is_faro(d)]
    if not resources:
        raise RenderError(f"no {API_VERSION} Collection or RagPipeline in the input")
    for doc in sorted(resources, key=lambda d: d.get("kind") != COLLECTION.kind):  # Collections first
        meta = doc.get("metadata") or {}
        name, namespace, uid = meta.get("name"), meta.get("namespace", "default"), meta.get("uid", "")
        if not name:
            raise RenderError(f"a {doc.get('kind')} has no metadata.name")
        if (key := (str(doc.get("kind")), namespace, name)) in seen:
            raise RenderError(f"{doc.get('kind')} {namespace}/{name} is in the input twice")
        seen.add(key)
        try:
            if doc.get("kind") == COLLECTION.kind:
                spec = _strict(CollectionSpec, doc)
                collections[(namespace, name)] = spec
                children, _ = build_collection_children(Owner.collection(name, namespace, uid), spec, served)
            elif doc.get("kind") == RAGPIPELINE.kind:
                pipeline = _strict(RagPipelineSpec, doc)
                collection = collections.get((namespace, pipeline.collection_ref.name))
                if collection is None:
                    ref = f"{namespace}/{pipeline.collection_ref.name}"
                    raise RenderError(f"RagPipeline {name}: Collection {ref} is not in the input")
                if mismatch := dimension_mismatch(pipeline, collection):  # the operator refuses it too
                    raise RenderError(f"RagPipeline {name}: {mismatch}")
                resolved = resolve_collection(pipeline.collection_ref.name, namespace, collection)
                children, _ = build_pipeline_children(
                    Owner.pipeline(name, namespace, uid), pipeline, resolved, served
                )
            else:
                raise RenderError(f"unknown kind {doc.get('kind')!r}")
        except ValidationError as exc:
            raise RenderError(f"{doc.get('kind')} {name}: {spec_error_message(exc)}") from exc
        if not uid:
            for child in children:
                child["metadata"].pop("ownerReferences", None)
        rendered.extend(children)
    return rendered


def _is_faro(document: dict[str, Any]) -> bool:
    """A resource of Faro's API group: of its version, or refused (it would be left out without a word)."""
    api_version = str(document.get("apiVersion", ""))
    if api_version.partition("/")[0] != GROUP:
        return False
    if api_version != API_VERSION:
        kind = document.get("kind")
        raise RenderError(f"{kind} has apiVersion {api_version!r}; this Faro serves {API_VERSION!r}")
    return True


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that names a key twice (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=True) for key, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if repeated:
            message = f"key {repeated[0]!r} given twice in one mapping"
            raise yaml.constructor.ConstructorError(None, None, message, node.start_mark)
        return super().construct_mapping(node, deep)


def load_manifests(stream: Any) -> list[Any]:
    """The YAML documents of ``stream`` (empty ones left out), read strictly (:class:`_StrictLoader`)."""
    return [document for document in yaml.load_all(stream, Loader=_StrictLoader) if document]


def _strict(model: type[SpecT], document: dict[str, Any]) -> SpecT:
    """``document``'s spec as the API server reads it: JSON (YAML's dates as strings, as kubectl sends
    them), each value of its schema's type (``true`` is no integer, ``"250"`` no number), which the
    operator's lax reading of what the API server already checked would coerce."""
    return model.model_validate_json(json.dumps(document.get("spec") or {}, default=str), strict=True)
