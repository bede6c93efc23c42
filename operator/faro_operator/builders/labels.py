"""The labels every child carries, the stable subset used as selectors, and child object metadata."""

from __future__ import annotations

from typing import Any

from faro_operator.builders.naming import label_value
from faro_operator.builders.owner import COLLECTION_KIND, RAGPIPELINE_KIND, Owner
from faro_workloads.contract.api import qualified_key

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
PIPELINE = qualified_key("pipeline")
COLLECTION = qualified_key("collection")

APP_NAME = "faro"
MANAGER = "faro-operator"

_OWNER_LABEL = {RAGPIPELINE_KIND: PIPELINE, COLLECTION_KIND: COLLECTION}


def owner_label_key(owner: Owner) -> str:
    """``faro.dev/pipeline`` for a RagPipeline's children, ``faro.dev/collection`` for a Collection's."""
    try:
        return _OWNER_LABEL[owner.kind]
    except KeyError:
        raise ValueError(f"no owner label for kind {owner.kind!r}") from None


def selector_labels(owner: Owner, component: str) -> dict[str, str]:
    """The labels selecting one component's pods: never change them on a live Deployment (immutable)."""
    return {NAME: APP_NAME, INSTANCE: label_value(owner.name), COMPONENT: str(component)}


def standard_labels(owner: Owner, component: str) -> dict[str, str]:
    """All labels of a child: the recommended ``app.kubernetes.io`` set plus the owner's ``faro.dev`` one."""
    return {
        **selector_labels(owner, component),
        PART_OF: APP_NAME,
        MANAGED_BY: MANAGER,
        owner_label_key(owner): label_value(owner.name),
    }


def object_meta(
    owner: Owner,
    name: str,
    component: str,
    *,
    extra_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``metadata`` of a child: name, the owner's namespace, labels, and the controller ownerReference.

    ``extra_labels`` are added under the standard labels, which win on a clash.
    """
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner.namespace,
        "labels": {**(extra_labels or {}), **standard_labels(owner, component)},
        "ownerReferences": [owner.reference()],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta
