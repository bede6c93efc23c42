"""The CRDs generated from the spec models: valid, structural, in sync with crds/, accepting the examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from faro_operator.crds import CRD_FILES, collection_crd, ragpipeline_crd, render_crd_yaml
from faro_operator.specs import CollectionSpec, RagPipelineSpec

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", sorted(CRD_FILES))
def test_crds_validate_strictly_against_kubernetes_1_34(name: str) -> None:
    kubernetes_validate.validate(CRD_FILES[name](), "1.34", strict=True)


@pytest.mark.parametrize("name", sorted(CRD_FILES))
def test_committed_crds_match_the_models(name: str) -> None:
    committed = (REPO / "crds" / name).read_text()
    assert committed == render_crd_yaml(name), "crds/ is stale: run `faro crds --write crds`"


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, child in node.get("properties", {}).items():
        found += _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _walk(node["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("crd", [collection_crd(), ragpipeline_crd()], ids=["collection", "ragpipeline"])
def test_schemas_are_structural(crd: dict[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "type" in node, f"{path} has no type"
        assert not {"$ref", "anyOf", "allOf", "oneOf", "title", "const"} & node.keys(), path
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True and "minimum" in node, path


def test_printer_columns_short_names_and_status_subresource() -> None:
    pipeline = ragpipeline_crd()["spec"]
    version = pipeline["versions"][0]
    assert [c["name"] for c in version["additionalPrinterColumns"]] == [
        "Ready",
        "Collection",
        "Docs",
        "Chunks",
        "Generation",
        "Overlap",
        "Age",
    ]
    assert version["subresources"] == {"status": {}}
    assert "rp" in pipeline["names"]["shortNames"]
    collection = collection_crd()["spec"]
    assert [c["name"] for c in collection["versions"][0]["additionalPrinterColumns"]] == [
        "Ready",
        "Dimension",
        "Distance",
        "Qdrant points",
        "Postgres rows",
        "Age",
    ]


def test_kubectl_explain_texts_and_enums_come_from_the_models() -> None:
    spec = collection_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["deletionPolicy"]["enum"] == ["Retain", "Delete"]
    assert "Immutable" in spec["properties"]["dimension"]["description"]
    assert spec["required"] == ["dimension", "qdrant", "postgres"]
    pipeline = ragpipeline_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert pipeline["properties"]["chunking"]["properties"]["strategy"]["enum"] == [
        "fixed",
        "recursive",
        "markdown",
        "sentence",
        "semantic",
    ]
    assert pipeline["properties"]["chunking"]["properties"]["size"]["default"] == 250


def test_the_examples_are_valid_specs() -> None:
    examples = REPO / "examples" / "kubernetes"
    collection = yaml.safe_load((examples / "collection.yaml").read_text())
    pipeline = yaml.safe_load((examples / "ragpipeline.yaml").read_text())
    parsed = CollectionSpec.model_validate(collection["spec"])
    assert parsed.qdrant.external is not None and parsed.qdrant.external.address == "10.0.12.34"
    spec = RagPipelineSpec.model_validate(pipeline["spec"])
    assert spec.collection_ref.name == collection["metadata"]["name"]
    assert spec.embedding.dimension == parsed.dimension


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"qdrant": {"url": "http://q:6333", "external": {"address": "10.0.0.1"}}},
            "exactly one of url or external",
        ),
        ({"qdrant": {}}, "exactly one of url or external"),
        ({"deletionPolicy": "Shred"}, "Retain"),
        ({"dimension": 0}, "greater than or equal to 1"),
        ({"qdrant": {"url": "gopher://x"}}, "String should match pattern"),
        ({"qdrant": {"external": {"address": "not a host!!"}}}, "String should match pattern"),
        (
            {"qdrant": {"external": {"address": "999.1.1.1"}}},
            "'999.1.1.1' is neither an IP address nor a DNS",
        ),
        ({"qdrant": {"external": {"address": "fd00:::1::2"}}}, "neither an IP address nor a DNS name"),
    ],
)
def test_invalid_collection_specs_are_rejected_with_a_reason(patch: dict[str, Any], message: str) -> None:
    base = {
        "dimension": 8,
        "qdrant": {"url": "http://q:6333"},
        "postgres": {"dsnSecretRef": {"name": "p", "key": "k"}},
    }
    with pytest.raises(ValueError, match=message):
        CollectionSpec.model_validate({**base, **patch})


@pytest.mark.parametrize("address", ["10.0.0.7", "fd00::7", "qdrant.example.com", "Qdrant-1.internal"])
def test_an_external_qdrant_is_an_ip_address_or_a_dns_name(address: str) -> None:
    spec = {
        "dimension": 8,
        "qdrant": {"external": {"address": address}},
        "postgres": {"dsnSecretRef": {"name": "p", "key": "k"}},
    }
    assert CollectionSpec.model_validate(spec).qdrant.external is not None


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("embedding", "gatewayUrl"), "not-a-url"),
        (("embedding", "customHost"), "vllm:8000"),
        (("source", "queueUrl"), "ftp://queue"),
        (("consistency", "schedule"), "not a cron"),
        (("consistency", "pushgatewayUrl"), "pushgateway:9091"),
    ],
)
def test_urls_and_schedules_a_pod_could_not_use_are_refused(where: tuple[str, str], value: str) -> None:
    spec = yaml.safe_load((REPO / "examples" / "kubernetes" / "ragpipeline.yaml").read_text())["spec"]
    bad = {**spec, where[0]: {**spec.get(where[0], {}), where[1]: value}}
    with pytest.raises(ValueError, match="String should match pattern"):
        RagPipelineSpec.model_validate(bad)
    for schedule in ("@hourly", "*/5 * * * *", "0 3 * * 1-5"):
        RagPipelineSpec.model_validate({**spec, "consistency": {"schedule": schedule}})
