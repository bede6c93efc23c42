"""Reconciling a RagPipeline: check its Collection, apply every child, report component health and counts."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from faro_operator.access_bindings import withdraw_token_access
from faro_operator.access_status import report_access
from faro_operator.builders.component_env import referenced_secrets
from faro_operator.builders.components import Component, component_name
from faro_operator.builders.owner import Owner
from faro_operator.builders.resolved_collection import (
    ResolvedCollection,
    dimension_mismatch,
    resolve_collection,
)
from faro_operator.builders.served_kinds import CRONJOB, ServedKinds
from faro_operator.collection_stores import store_configs
from faro_operator.context import OperatorContext
from faro_operator.generation_status import generation_status
from faro_operator.metrics import CHILDREN_APPLIED, measured_reconcile
from faro_operator.reconcile_events import write_conditions
from faro_operator.spec_errors import spec_error_message
from faro_operator.specs import CollectionSpec, RagPipelineSpec
from faro_workloads.contract import conditions
from faro_workloads.contract.api import COLLECTION, GROUP, RAGPIPELINE, VERSION, qualified_key
from faro_workloads.contract.conditions import ConditionType, ConditionUpdate, EventReason
from faro_workloads.contract.generations import APPROVE_ANNOTATION, FIRST_GENERATION

log = logging.getLogger(__name__)
RETRY_SECONDS = 10
# The workloads' FARO_PIPELINE (an S3 key segment and a metrics label): stricter than a resource name.
PIPELINE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
COMPONENT_CONDITIONS = {
    Component.CHUNKER: ConditionType.CHUNKER_READY,
    Component.EMBEDDER: ConditionType.EMBEDDER_READY,
    Component.QUERY: ConditionType.QUERY_READY,
}


def reconcile_pipeline(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> None:
    measured_reconcile(RAGPIPELINE.kind, lambda: _reconcile(body, patch, ctx))


def _reconcile(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> str:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    if not PIPELINE_NAME.match(name):
        message = f"name {name!r} must be a DNS label (at most 63 lowercase letters, digits and '-', no dots)"
        write_conditions(body, patch, [conditions.invalid_name(message)])
        return "error"
    try:
        spec = RagPipelineSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        write_conditions(body, patch, [conditions.invalid_spec(spec_error_message(exc))])
        return "error"

    collection = _read_collection(ctx, namespace, spec.collection_ref.name)
    if collection is None:
        message = f"Collection {namespace}/{spec.collection_ref.name} does not exist"
        write_conditions(body, patch, [conditions.collection_not_found(message)])
        raise kopf.TemporaryError(message, delay=RETRY_SECONDS)  # retried until the Collection appears
    try:
        collection_spec = CollectionSpec.model_validate(collection.get("spec") or {})
    except ValidationError as exc:
        message = f"Collection {spec.collection_ref.name} is invalid: {spec_error_message(exc)}"
        write_conditions(body, patch, [conditions.collection_invalid(message)])
        raise kopf.TemporaryError(message, delay=RETRY_SECONDS) from exc
    if message := dimension_mismatch(spec, collection_spec):
        write_conditions(body, patch, [conditions.dimension_mismatch(message)])
        return "error"

    if conflict := _profile_conflict(ctx, body, spec):
        write_conditions(body, patch, [conditions.profile_conflict(conflict)])
        return "error"

    resolved = resolve_collection(spec.collection_ref.name, namespace, collection_spec)
    owner = Owner.pipeline(name, namespace, body["metadata"]["uid"])
    from faro_operator.builders import build_pipeline_children

    served = ctx.served_kinds()
    children, skipped = build_pipeline_children(
        owner, spec, resolved, served, _secret_versions(ctx, namespace, spec, resolved)
    )
    applied = _apply(ctx, children)
    patch.status.update(
        autoscaling=_autoscalers(ctx, body, owner, spec, served), access=_access(ctx, body, owner, spec)
    )

    updates = [conditions.spec_accepted(), _collection_condition(collection)]
    updates += _component_conditions(ctx, spec, name, namespace)
    updates.append(_consistency_condition(applied))
    updates.append(conditions.completeness((body.get("status") or {}).get("consistency")))
    patch.status["skippedKinds"] = skipped
    updates.append(conditions.apis_not_served(skipped) if skipped else conditions.optional_apis_served())
    patch.status["endpoints"] = _endpoints(spec, name, namespace)
    approve = _approved_generation(body)
    store_status, reindexing = _store_status(
        ctx, spec.collection_ref.name, namespace, collection_spec, approve
    )
    was_live, live = (body.get("status") or {}).get("liveGeneration"), store_status.get("liveGeneration")
    if was_live is not None and live is not None and live != was_live:
        if live < was_live:  # a new generation always gets a higher number: a lower one is a rollback
            message = f"rolled back: index generation {live} is live again (was {was_live})"
            kopf.info(body, reason=EventReason.GENERATION_ROLLED_BACK, message=message)
        else:
            message = f"index generation {live} is live (was {was_live})"
            kopf.info(body, reason=EventReason.GENERATION_LIVE, message=message)
    patch.status.update(store_status)
    ready = write_conditions(body, patch, updates + reindexing)
    return "ok" if ready["status"] == "True" else "waiting"


def _secret_versions(
    ctx: OperatorContext, namespace: str, spec: RagPipelineSpec, resolved: ResolvedCollection
) -> dict[str, str]:
    """The resourceVersions of the Secrets the pipeline's pods read at start ("" for one that is missing:
    its pods cannot start until it exists, and then roll)."""
    return {name: ctx.secrets.version(namespace, name) or "" for name in referenced_secrets(spec, resolved)}


def _apply(ctx: OperatorContext, children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply ``children`` in order; what the server answered for each."""
    applied = []
    for child in children:
        applied.append(ctx.applier.apply(child))
        CHILDREN_APPLIED.labels(child["kind"]).inc()
    return applied


def _access(
    ctx: OperatorContext, body: kopf.Body, owner: Owner, spec: RagPipelineSpec
) -> dict[str, str | None]:
    """Withdraw the token-review bindings of a pipeline that no longer takes service-account tokens;
    ``status.access`` as a merge patch."""
    withdraw_token_access(ctx, body, owner, spec)
    return report_access(body, spec)


def _autoscalers(
    ctx: OperatorContext, body: kopf.Body, owner: Owner, spec: RagPipelineSpec, served: ServedKinds
) -> dict[str, str | None]:
    """Delete the autoscalers the operator made that the components no longer want (an event for each);
    the kind of autoscaler of each autoscaled component, as the status's merge patch (a component no longer
    autoscaled is removed from the map by a null)."""
    from faro_operator.builders import build_autoscalers

    autoscalers = build_autoscalers(owner, spec, served)
    for stale in autoscalers.unwanted:
        if ctx.applier.delete_owned(stale.api_version, stale.kind, stale.name, owner.namespace, owner.uid):
            message = f"deleted {stale.kind} {stale.name}: the component no longer uses it"
            kopf.info(body, reason=EventReason.AUTOSCALER_REMOVED, message=message)
    previous = (body.get("status") or {}).get("autoscaling") or {}
    return {**dict.fromkeys(previous), **autoscalers.kinds}


def _index_profile(spec: RagPipelineSpec) -> tuple[object, ...]:
    """What shapes the vectors a pipeline writes: its model and its chunking."""
    embedding, chunking = spec.embedding, spec.chunking
    return (embedding.provider, embedding.model, embedding.dimension, chunking.model_dump())


def _profile_conflict(ctx: OperatorContext, body: kopf.Body, spec: RagPipelineSpec) -> str | None:
    """Why this pipeline may not fill its Collection: the Collection's oldest valid RagPipeline (its owner of
    the vector space: one Collection, one model and chunking) uses another model or chunking; None when
    this pipeline is the oldest or agrees with it."""
    namespace = body["metadata"]["namespace"]
    on_collection = []
    for item in CustomObjectsApi(ctx.api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, RAGPIPELINE.plural
    )["items"]:
        try:
            other = RagPipelineSpec.model_validate(item.get("spec") or {})
        except ValidationError:
            continue  # an invalid pipeline fills nothing
        if other.collection_ref.name == spec.collection_ref.name:
            on_collection.append(
                ((item["metadata"].get("creationTimestamp") or "", item["metadata"]["name"]), other)
            )
    if not on_collection:
        return None
    (_, owner_name), owner = min(on_collection, key=lambda entry: entry[0])
    if owner_name == body["metadata"]["name"] or _index_profile(owner) == _index_profile(spec):
        return None
    return (
        f"RagPipeline {owner_name} already fills Collection {spec.collection_ref.name} with model "
        f"{owner.embedding.model!r} and {owner.chunking.strategy} chunking "
        f"{owner.chunking.size}/{owner.chunking.overlap}: a Collection holds one vector space, so give this "
        "pipeline the same model and chunking, or its own Collection"
    )


def _read_collection(ctx: OperatorContext, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return CustomObjectsApi(ctx.api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, COLLECTION.plural, name
        )
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _collection_condition(collection: dict[str, Any]) -> ConditionUpdate:
    ready = next(
        (
            c
            for c in (collection.get("status") or {}).get("conditions", [])
            if c.get("type") == ConditionType.READY
        ),
        None,
    )
    if ready is None:
        return conditions.collection_pending()
    if ready.get("status") == "True":
        return conditions.collection_ready()
    return conditions.collection_not_ready(f"{ready.get('reason')}: {ready.get('message', '')}")


def _component_conditions(
    ctx: OperatorContext, spec: RagPipelineSpec, name: str, namespace: str
) -> list[ConditionUpdate]:
    updates = []
    for component, condition in COMPONENT_CONDITIONS.items():
        if component is Component.QUERY and not spec.query.enabled:
            continue
        deployment_name = component_name(name, component)
        try:
            deployment = ctx.apps.read_namespaced_deployment(deployment_name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            updates.append(conditions.deployment_missing(condition, deployment_name))
            continue
        desired = deployment.spec.replicas or 0
        available = (deployment.status.available_replicas or 0) if deployment.status else 0
        if available >= desired:
            updates.append(conditions.replicas_available(condition, available, desired))
        else:
            updates.append(conditions.replicas_unavailable(condition, available, desired))
    return updates


def _consistency_condition(applied: list[dict[str, Any]]) -> ConditionUpdate:
    """From the CronJob as the API server returned it: scheduled, and when it last ran."""
    cronjob = next((child for child in applied if child.get("kind") == CRONJOB), None)
    if cronjob is None:
        return conditions.cronjob_not_served()
    last = (cronjob.get("status") or {}).get("lastScheduleTime")
    return conditions.cronjob_scheduled(cronjob.get("spec", {}).get("schedule"), last)


def _endpoints(spec: RagPipelineSpec, name: str, namespace: str) -> dict[str, str | None]:
    def url(component: str) -> str:
        return f"http://{component_name(name, component)}.{namespace}.svc"  # type: ignore[arg-type]

    return {"chunker": url("chunker"), "query": url("query") if spec.query.enabled else None}


def _approved_generation(body: kopf.Body) -> int | None:
    """The generation the ``faro.dev/approve-generation`` annotation approves, if any: a Manual cutover, or
    (whatever the cutover mode) one the golden queries refused."""
    value = (body["metadata"].get("annotations") or {}).get(qualified_key(APPROVE_ANNOTATION), "")
    if not value.strip().isdigit():
        return None
    return int(value.strip())


def _store_status(
    ctx: OperatorContext, collection: str, namespace: str, spec: CollectionSpec, approve: int | None = None
) -> tuple[dict[str, Any], list[ConditionUpdate]]:
    """Documents, chunks and index generations from PostgreSQL (the source of truth), with the Reindexing
    condition, after recording the approval of a Manual cutover to ``approve``; nothing when it cannot be
    read now."""
    try:
        configs = store_configs(collection, namespace, spec, ctx.secrets)
        pg, qdrant = ctx.store_connector.open(configs)
    except Exception as exc:  # MissingSecret, or PostgreSQL unreachable
        log.info("counts of %s/%s unavailable: %s", namespace, collection, exc)
        return {}, []
    try:
        if approve is not None and pg.approve_generation(approve):
            log.info("%s/%s: cutover to generation %d approved", namespace, collection, approve)
        fields, found = generation_status(pg.generations(), pg.generation_progress, datetime.now(UTC))
        live = pg.for_generation(fields["liveGeneration"] or FIRST_GENERATION)  # the registry read once
        documents, chunks = live.status_counts()
        return {"documents": documents, "chunks": chunks, **fields}, found
    except Exception as exc:
        log.info("counts of %s/%s unavailable: %s", namespace, collection, exc)
        return {}, []
    finally:
        qdrant.close()
        pg.close()
