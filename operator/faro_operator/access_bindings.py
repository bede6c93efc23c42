"""Removing the review bindings of a pipeline (:mod:`faro_operator.builders.access_rbac`) when it stops
accepting service-account tokens or is deleted.

The namespaced RoleBinding goes with its owner anyway; the cluster-scoped ClusterRoleBinding has no owner to
go with, so the operator deletes it: on the reconcile that finds the pipeline no longer takes tokens, and in
the pipeline's deletion handler (a finalizer, added only to pipelines that may have the binding).
"""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from faro_operator.builders.access_rbac import (
    RBAC_API,
    build_access_review_binding,
    token_review_binding_labels,
    token_review_binding_name,
)
from faro_operator.builders.owner import Owner
from faro_operator.context import OperatorContext
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.conditions import EventReason


def may_hold_token_review(spec: dict[str, Any] | None) -> bool:
    """Whether a pipeline with this (raw) spec may have a token-review binding to delete: every pipeline
    except a valid one that takes no tokens (an invalid spec may follow a valid one that did)."""
    try:
        return RagPipelineSpec.model_validate(spec or {}).access.accepts_service_accounts
    except ValidationError:
        return True


def remove_review_bindings(ctx: OperatorContext, owner: Owner, spec: RagPipelineSpec | None) -> list[str]:
    """Delete the pipeline's review bindings where they exist; the names deleted."""
    deleted = []
    name = token_review_binding_name(owner)
    labels = token_review_binding_labels(owner)
    if ctx.applier.delete_labelled(f"{RBAC_API}/v1", "ClusterRoleBinding", name, labels):
        deleted.append(f"ClusterRoleBinding {name}")
    if spec is not None:
        binding = build_access_review_binding(owner, spec)["metadata"]["name"]
        if ctx.applier.delete_owned(f"{RBAC_API}/v1", "RoleBinding", binding, owner.namespace, owner.uid):
            deleted.append(f"RoleBinding {binding}")
    return deleted


def withdraw_token_access(ctx: OperatorContext, body: kopf.Body, owner: Owner, spec: RagPipelineSpec) -> None:
    """On a reconcile: when the pipeline no longer takes service-account tokens, delete its bindings (an
    event says so)."""
    if spec.access.accepts_service_accounts:
        return
    deleted = remove_review_bindings(ctx, owner, spec)
    if deleted:
        message = f"deleted {', '.join(deleted)}: the pipeline no longer accepts service-account tokens"
        kopf.info(body, reason=EventReason.ACCESS_REVIEW_REMOVED, message=message)


def delete_pipeline_access(body: kopf.Body, ctx: OperatorContext) -> None:
    """On the pipeline's deletion: delete its token-review binding."""
    metadata = body["metadata"]
    owner = Owner.pipeline(metadata["name"], metadata["namespace"], metadata["uid"])
    remove_review_bindings(ctx, owner, None)
