"""Reconciling a RagPipeline: check its Collection, apply every child, report component health and counts."""

from __future__ import annotations

import logging
import re
from typing import Any

import kopf
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from faro_operator import GROUP, VERSION
from faro_operator.builders.components import component_name
from faro_operator.builders.owner import Owner
from faro_operator.builders.resolved_collection import resolve_collection
from faro_operator.collection_stores import store_configs
from faro_operator.conditions import ConditionUpdate
from faro_operator.context import OperatorContext
from faro_operator.metrics import CHILDREN_APPLIED, measured_reconcile
from faro_operator.reconcile_events import write_conditions
from faro_operator.spec_errors import spec_error_message
from faro_operator.specs import CollectionSpec, RagPipelineSpec

log = logging.getLogger(__name__)
RETRY_SECONDS = 10
# The workloads' FARO_PIPELINE (an S3 key segment and a metrics label): stricter than a resource name.
PIPELINE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
COMPONENT_CONDITIONS = {"chunker": "ChunkerReady", "embedder": "EmbedderReady", "query": "QueryReady"}


def reconcile_pipeline(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> None:
    measured_reconcile("RagPipeline", lambda: _reconcile(body, patch, ctx))


def _reconcile(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> str:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    if not PIPELINE_NAME.match(name):
        message = f"name {name!r} must be a DNS label (at most 63 lowercase letters, digits and '-', no dots)"
        write_conditions(body, patch, [ConditionUpdate("SpecValid", "False", "InvalidName", message)])
        return "error"
    try:
        spec = RagPipelineSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        write_conditions(
            body, patch, [ConditionUpdate("SpecValid", "False", "InvalidSpec", spec_error_message(exc))]
        )
        return "error"

    collection = _read_collection(ctx, namespace, spec.collection_ref.name)
    if collection is None:
        message = f"Collection {namespace}/{spec.collection_ref.name} does not exist"
        write_conditions(
            body, patch, [ConditionUpdate("CollectionReady", "False", "CollectionNotFound", message)]
        )
        raise kopf.TemporaryError(message, delay=RETRY_SECONDS)  # retried until the Collection appears
    try:
        collection_spec = CollectionSpec.model_validate(collection.get("spec") or {})
    except ValidationError as exc:
        message = f"Collection {spec.collection_ref.name} is invalid: {spec_error_message(exc)}"
        write_conditions(
            body, patch, [ConditionUpdate("CollectionReady", "False", "CollectionInvalid", message)]
        )
        raise kopf.TemporaryError(message, delay=RETRY_SECONDS) from exc
    if spec.embedding.dimension != collection_spec.dimension:
        message = (
            f"embedding model {spec.embedding.model!r} returns {spec.embedding.dimension}-d vectors, "
            f"Collection {spec.collection_ref.name} holds {collection_spec.dimension}-d"
        )
        write_conditions(body, patch, [ConditionUpdate("SpecValid", "False", "DimensionMismatch", message)])
        return "error"

    resolved = resolve_collection(spec.collection_ref.name, namespace, collection_spec)
    owner = Owner.pipeline(name, namespace, body["metadata"]["uid"])
    from faro_operator.builders import build_pipeline_children

    children, skipped = build_pipeline_children(owner, spec, resolved, ctx.served_kinds())
    applied = []
    for child in children:
        applied.append(ctx.applier.apply(child))
        CHILDREN_APPLIED.labels(child["kind"]).inc()

    updates = [
        ConditionUpdate("SpecValid", "True", "Valid", "spec accepted"),
        _collection_condition(collection),
    ]
    updates += _component_conditions(ctx, spec, name, namespace)
    updates.append(_consistency_condition(applied))
    patch.status["skippedKinds"] = skipped
    if skipped:
        updates.append(
            ConditionUpdate(
                "OptionalApisReady", "False", "ApiNotServed", f"not served here: {', '.join(skipped)}"
            )
        )
    patch.status["endpoints"] = _endpoints(spec, name, namespace)
    patch.status.update(_counts(ctx, spec.collection_ref.name, namespace, collection_spec))
    ready = write_conditions(body, patch, updates)
    return "ok" if ready["status"] == "True" else "waiting"


def _read_collection(ctx: OperatorContext, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return CustomObjectsApi(ctx.api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "collections", name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _collection_condition(collection: dict[str, Any]) -> ConditionUpdate:
    ready = next(
        (c for c in (collection.get("status") or {}).get("conditions", []) if c.get("type") == "Ready"), None
    )
    if ready is None:
        return ConditionUpdate(
            "CollectionReady", "Unknown", "CollectionPending", "the Collection is not reconciled yet"
        )
    if ready.get("status") == "True":
        return ConditionUpdate("CollectionReady", "True", "CollectionReady", "both stores are ready")
    return ConditionUpdate(
        "CollectionReady", "False", "CollectionNotReady", f"{ready.get('reason')}: {ready.get('message', '')}"
    )


def _component_conditions(
    ctx: OperatorContext, spec: RagPipelineSpec, name: str, namespace: str
) -> list[ConditionUpdate]:
    updates = []
    for component, condition in COMPONENT_CONDITIONS.items():
        if component == "query" and not spec.query.enabled:
            continue
        deployment_name = component_name(name, component)  # type: ignore[arg-type]
        try:
            deployment = ctx.apps.read_namespaced_deployment(deployment_name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            updates.append(
                ConditionUpdate(condition, "False", "DeploymentMissing", f"{deployment_name} not found")
            )
            continue
        desired = deployment.spec.replicas or 0
        available = (deployment.status.available_replicas or 0) if deployment.status else 0
        if available >= desired:
            updates.append(
                ConditionUpdate(condition, "True", "ReplicasAvailable", f"{available}/{desired} available")
            )
        else:
            updates.append(
                ConditionUpdate(
                    condition, "False", "ReplicasUnavailable", f"{available}/{desired} replicas available"
                )
            )
    return updates


def _consistency_condition(applied: list[dict[str, Any]]) -> ConditionUpdate:
    """From the CronJob as the API server returned it: scheduled, and when it last ran."""
    cronjob = next((child for child in applied if child.get("kind") == "CronJob"), None)
    if cronjob is None:
        return ConditionUpdate(
            "ConsistencyScheduled", "False", "CronJobNotServed", "this cluster serves no CronJob API"
        )
    last = (cronjob.get("status") or {}).get("lastScheduleTime")
    schedule = cronjob.get("spec", {}).get("schedule")
    message = f"schedule {schedule!r}; " + (f"last run {last}" if last else "not run yet")
    return ConditionUpdate("ConsistencyScheduled", "True", "CronJobScheduled", message)


def _endpoints(spec: RagPipelineSpec, name: str, namespace: str) -> dict[str, str | None]:
    def url(component: str) -> str:
        return f"http://{component_name(name, component)}.{namespace}.svc"  # type: ignore[arg-type]

    return {"chunker": url("chunker"), "query": url("query") if spec.query.enabled else None}


def _counts(ctx: OperatorContext, collection: str, namespace: str, spec: CollectionSpec) -> dict[str, int]:
    """Documents and chunks from PostgreSQL (the source of truth); nothing when it cannot be read now."""
    try:
        configs = store_configs(collection, namespace, spec, ctx.secrets)
        pg, qdrant = ctx.store_connector.open(configs)
    except Exception as exc:  # MissingSecret, or PostgreSQL unreachable
        log.info("counts of %s/%s unavailable: %s", namespace, collection, exc)
        return {}
    try:
        documents, chunks = pg.status_counts()
        return {"documents": documents, "chunks": chunks}
    except Exception as exc:
        log.info("counts of %s/%s unavailable: %s", namespace, collection, exc)
        return {}
    finally:
        qdrant.close()
        pg.close()
