"""Faro's CustomResourceDefinitions, generated from the pydantic models (``crds/`` holds them as YAML)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel

from faro_operator.crd_schema import openapi_schema
from faro_operator.specs import CollectionSpec, RagPipelineSpec
from faro_workloads.contract.api import COLLECTION, GROUP, RAGPIPELINE, VERSION, ResourceKind
from faro_workloads.contract.conditions import ConditionType
from faro_workloads.contract.status import CollectionStatus, RagPipelineStatus

READY_COLUMN = {
    "name": str(ConditionType.READY),
    "type": "string",
    "jsonPath": f'.status.conditions[?(@.type=="{ConditionType.READY}")].status',
}
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _crd(
    resource: ResourceKind,
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, str]],
) -> dict[str, Any]:
    spec_schema = openapi_schema(spec)
    status_schema = openapi_schema(status)
    kind = resource.kind
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/part-of": "faro", "app.kubernetes.io/managed-by": "faro"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": ["faro"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [READY_COLUMN, *columns, AGE_COLUMN],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": spec_schema.get("description", kind),
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": {**status_schema, "description": f"Observed state of the {kind}."},
                            },
                        }
                    },
                }
            ],
        },
    }


def collection_crd() -> dict[str, Any]:
    return _crd(
        COLLECTION,
        CollectionSpec,
        CollectionStatus,
        [
            {"name": "Dimension", "type": "integer", "jsonPath": ".spec.dimension"},
            {"name": "Distance", "type": "string", "jsonPath": ".spec.distance"},
            {"name": "Qdrant points", "type": "integer", "jsonPath": ".status.qdrantPoints"},
            {"name": "Postgres rows", "type": "integer", "jsonPath": ".status.postgresRows"},
        ],
    )


def ragpipeline_crd() -> dict[str, Any]:
    return _crd(
        RAGPIPELINE,
        RagPipelineSpec,
        RagPipelineStatus,
        [
            {"name": COLLECTION.kind, "type": "string", "jsonPath": ".spec.collectionRef.name"},
            {"name": "Docs", "type": "integer", "jsonPath": ".status.documents"},
            {"name": "Chunks", "type": "integer", "jsonPath": ".status.chunks"},
            {"name": "Generation", "type": "integer", "jsonPath": ".status.liveGeneration"},
            {"name": "Overlap", "type": "number", "jsonPath": ".status.consistency.overlapAtK"},
        ],
    )


CRD_FILES = {
    f"{GROUP}_{COLLECTION.plural}.yaml": collection_crd,
    f"{GROUP}_{RAGPIPELINE.plural}.yaml": ragpipeline_crd,
}


def render_crd_yaml(builder_name: str) -> str:
    """The YAML text of one CRD file (as committed under crds/)."""
    header = (
        "# Generated from operator/faro_operator/specs.py and workloads/faro_workloads/contract/"
        " by `faro crds --write crds`. Do not edit.\n"
    )
    plain = json.loads(json.dumps(CRD_FILES[builder_name]()))  # no shared nodes, so no YAML anchors
    return header + yaml.safe_dump(plain, sort_keys=False, width=110)
