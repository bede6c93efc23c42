"""Reconciling a Collection: the Qdrant bridge, both stores prepared, counts and reachability in status,
and the deletion policy on delete."""

from __future__ import annotations

import logging

import kopf
from pydantic import ValidationError

from faro_operator.builders.owner import Owner
from faro_operator.builders.resolved_collection import resolve_collection
from faro_operator.collection_stores import MissingSecret, store_configs
from faro_operator.conditions import now_rfc3339
from faro_operator.context import OperatorContext
from faro_operator.metrics import CHILDREN_APPLIED, measured_reconcile
from faro_operator.reconcile_events import write_conditions
from faro_operator.spec_errors import spec_error_message
from faro_operator.specs import CollectionSpec, DeletionPolicy
from faro_workloads.contract import conditions
from faro_workloads.contract.api import COLLECTION
from faro_workloads.contract.conditions import ConditionUpdate, EventReason
from faro_workloads.contract.generations import FIRST_GENERATION
from faro_workloads.core.stores.ports import (
    CollectionAdmin,
    CollectionMismatch,
    SchemaAdmin,
    StoreSchemaMismatch,
)

log = logging.getLogger(__name__)
RETRY_SECONDS = 15


def reconcile_collection(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> None:
    measured_reconcile(COLLECTION.kind, lambda: _reconcile(body, patch, ctx))


def _reconcile(body: kopf.Body, patch: kopf.Patch, ctx: OperatorContext) -> str:
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    try:
        spec = CollectionSpec.model_validate(body.get("spec") or {})
    except ValidationError as exc:
        write_conditions(body, patch, [conditions.invalid_spec(spec_error_message(exc))])
        return "error"
    status = body.get("status") or {}
    immutable = _immutable_change(status, spec)
    if immutable:
        write_conditions(body, patch, [conditions.immutable_field_changed(immutable)])
        return "error"

    resolved = resolve_collection(name, namespace, spec)
    owner = Owner.collection(name, namespace, body["metadata"]["uid"])
    from faro_operator.builders import build_collection_children  # builders are pure; imported late

    children, skipped = build_collection_children(owner, spec, ctx.served_kinds())
    for child in children:
        ctx.applier.apply(child)
        CHILDREN_APPLIED.labels(child["kind"]).inc()

    updates = [conditions.spec_accepted()]
    try:
        configs = store_configs(name, namespace, spec, ctx.secrets)
    except MissingSecret as exc:
        updates.append(conditions.postgres_secret_not_found(str(exc)))
        write_conditions(body, patch, updates)
        raise kopf.TemporaryError(str(exc), delay=RETRY_SECONDS) from exc

    pg, qdrant = ctx.store_connector.open(configs)
    try:
        updates += _prepare_stores(pg, qdrant, patch)
    finally:
        qdrant.close()
        pg.close()

    updates.append(conditions.apis_not_served(skipped) if skipped else conditions.optional_apis_served())
    patch.status.update(
        {
            "qdrantUrl": resolved.qdrant_url,
            "collectionName": resolved.collection_name,
            "dimension": spec.dimension,
            "distance": spec.distance.value,
            "lastRefreshTime": now_rfc3339(),
        }
    )
    ready = write_conditions(body, patch, updates)
    return "ok" if ready["status"] == "True" else "waiting"


def delete_collection(body: kopf.Body, ctx: OperatorContext) -> None:
    """Retain: leave both stores' data. Delete: drop the Qdrant collection and the PostgreSQL tables."""
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    try:
        spec = CollectionSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return  # never accepted: nothing was created
    if spec.deletion_policy is DeletionPolicy.RETAIN:
        kopf.info(
            body,
            reason=EventReason.DATA_RETAINED,
            message="deletionPolicy Retain: both stores keep their data",
        )
        return
    try:
        configs = store_configs(name, namespace, spec, ctx.secrets)
    except MissingSecret as exc:
        raise kopf.TemporaryError(f"cannot delete the stores' data: {exc}", delay=RETRY_SECONDS) from exc
    pg, qdrant = ctx.store_connector.open(configs)
    try:
        for generation in pg.generations():  # every generation's Qdrant collection, then PostgreSQL's
            qdrant.for_generation(generation.id).drop()
        qdrant.drop()
        pg.drop()
    except Exception as exc:
        raise kopf.TemporaryError(
            f"deleting the stores' data failed: {_short(exc)}", delay=RETRY_SECONDS
        ) from exc
    finally:
        qdrant.close()
        pg.close()
    kopf.info(
        body,
        reason=EventReason.DATA_DELETED,
        message="deletionPolicy Delete: Qdrant collection and tables dropped",
    )


def _prepare_stores(pg: SchemaAdmin, qdrant: CollectionAdmin, patch: kopf.Patch) -> list[ConditionUpdate]:
    """Both stores prepared, the live generation's counts in ``patch``; their conditions."""
    updates: list[ConditionUpdate] = []
    live = FIRST_GENERATION  # until PostgreSQL says otherwise
    try:
        pg.ensure_schema()
        live = pg.live_generation()
        patch.status["liveGeneration"] = live
        patch.status["postgresRows"] = pg.for_generation(live).status_counts()[1]
        updates.append(conditions.postgres_schema_ready())
    except StoreSchemaMismatch as exc:
        updates.append(conditions.postgres_schema_mismatch(str(exc)))
    except Exception as exc:
        updates.append(conditions.postgres_unreachable(_short(exc)))
    try:
        qdrant.ensure_collection()  # generation 1's: where a collection starts, and what it always names
        patch.status["qdrantPoints"] = qdrant.for_generation(live).count(exact=False)
        updates.append(conditions.qdrant_collection_ready())
    except CollectionMismatch as exc:
        updates.append(conditions.qdrant_collection_mismatch(str(exc)))
    except Exception as exc:
        updates.append(conditions.qdrant_unreachable(_short(exc)))
    return updates


def _immutable_change(status: dict, spec: CollectionSpec) -> str | None:
    """Why the spec changes a field the stores were created with, or None."""
    dimension, distance = status.get("dimension"), status.get("distance")
    if dimension is not None and dimension != spec.dimension:
        return f"dimension is immutable: the stores hold {dimension}-d vectors, spec says {spec.dimension}"
    if distance is not None and distance != spec.distance.value:
        return f"distance is immutable: the stores use {distance}, spec says {spec.distance.value}"
    return None


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]
