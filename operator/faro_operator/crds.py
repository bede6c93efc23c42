"""Faro's CustomResourceDefinitions, generated from the pydantic models (``crds/`` holds them as YAML)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import BaseModel

from faro_operator import GROUP, VERSION
from faro_operator.crd_schema import openapi_schema
from faro_operator.specs import CollectionSpec, RagPipelineSpec
from faro_operator.status_models import CollectionStatus, RagPipelineStatus

READY_COLUMN = {
    "name": "Ready",
    "type": "string",
    "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
}
AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[dict[str, str]],
) -> dict[str, Any]:
    spec_schema = openapi_schema(spec)
    status_schema = openapi_schema(status)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "faro", "app.kubernetes.io/managed-by": "faro"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
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
        "Collection",
        "collections",
        ["fcol"],
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
        "RagPipeline",
        "ragpipelines",
        ["rp", "ragp"],
        RagPipelineSpec,
        RagPipelineStatus,
        [
            {"name": "Collection", "type": "string", "jsonPath": ".spec.collectionRef.name"},
            {"name": "Docs", "type": "integer", "jsonPath": ".status.documents"},
            {"name": "Chunks", "type": "integer", "jsonPath": ".status.chunks"},
            {"name": "Overlap", "type": "number", "jsonPath": ".status.consistency.overlapAtK"},
        ],
    )


CRD_FILES = {
    "faro.dev_collections.yaml": collection_crd,
    "faro.dev_ragpipelines.yaml": ragpipeline_crd,
}


def render_crd_yaml(builder_name: str) -> str:
    """The YAML text of one CRD file (as committed under crds/)."""
    header = "# Generated from operator/faro_operator/specs.py by `faro crds --write crds`. Do not edit.\n"
    plain = json.loads(json.dumps(CRD_FILES[builder_name]()))  # no shared nodes, so no YAML anchors
    return header + yaml.safe_dump(plain, sort_keys=False, width=110)
