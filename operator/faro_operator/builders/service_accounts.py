"""One ServiceAccount per pipeline component, so each gets only its own IAM role and RBAC."""

from __future__ import annotations

from faro_operator.builders.components import Component, component_name, component_spec, is_enabled
from faro_operator.builders.labels import object_meta
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.specs import RagPipelineSpec

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def build_service_account(owner: Owner, spec: RagPipelineSpec, component: Component) -> Manifest:
    """The ServiceAccount ``<pipeline>-<component>``, annotated with the component's IAM role (IRSA) if set.

    Only the consistency job talks to the Kubernetes API (it writes the pipeline's status); the others'
    accounts do not mount API tokens by default (IRSA's web-identity token is a separate projected volume).
    """
    settings = spec.consistency if component is Component.CONSISTENCY else component_spec(spec, component)
    role_arn = settings.service_account_role_arn if settings is not None else None
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(
            owner,
            component_name(owner.name, component),
            component.value,
            annotations={IRSA_ANNOTATION: role_arn} if role_arn else None,
        ),
        "automountServiceAccountToken": component is Component.CONSISTENCY,
    }


def build_pipeline_service_accounts(owner: Owner, spec: RagPipelineSpec) -> list[Manifest]:
    """The ServiceAccounts of every enabled component and of the consistency job."""
    return [
        build_service_account(owner, spec, component)
        for component in Component
        if is_enabled(spec, component)
    ]
