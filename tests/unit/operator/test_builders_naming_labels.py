"""Child names, label values, standard labels and ownerReferences of the builders."""

from __future__ import annotations

import re

import pytest

from faro_operator.builders import Component, Owner, child_name, component_name, label_value, standard_labels
from faro_operator.builders.labels import object_meta, selector_labels
from faro_operator.builders.naming import MAX_CRONJOB_NAME, MAX_LABEL_VALUE, MAX_NAME

from support.operator_builders import COLLECTION, PIPELINE

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_short_clean_names_are_kept() -> None:
    assert child_name("docs", "query") == "docs-query"
    assert component_name("docs", Component.CONSISTENCY) == "docs-consistency"
    assert label_value("docs") == "docs"


@pytest.mark.parametrize(
    "base",
    [
        "a" * 253,
        "x" * 60,
        "web.docs.v2",
        "1st-pipeline",
        "a" * 55 + "-" + "b" * 30,
        "a" * 50 + "----" + "b" * 10,
    ],
)
@pytest.mark.parametrize("suffix", ["query", "embedder", "consistency", "settings"])
def test_long_or_unusual_names_become_valid_dns_labels(base: str, suffix: str) -> None:
    name = child_name(base, suffix)
    assert len(name) <= MAX_NAME
    assert DNS_1035.match(name), name
    assert name.endswith(f"-{suffix}")
    assert child_name(base, suffix) == name  # deterministic


def test_component_names_accept_the_component_value() -> None:
    assert component_name("docs", "embedder") == component_name("docs", Component.EMBEDDER) == "docs-embedder"
    with pytest.raises(ValueError, match="sidecar"):
        component_name("docs", "sidecar")


def test_cronjob_names_fit_52_characters() -> None:
    name = component_name("p" * 200, Component.CONSISTENCY)
    assert len(name) <= MAX_CRONJOB_NAME
    assert name.endswith("-consistency")
    assert len(component_name("p" * 200, Component.QUERY)) == MAX_NAME


def test_truncated_names_of_different_resources_differ() -> None:
    long_a, long_b = "a" * 70 + "x", "a" * 70 + "y"
    assert child_name(long_a, "query") != child_name(long_b, "query")
    assert label_value(long_a) != label_value(long_b)
    # a dotted name does not collide with its dashed twin
    assert child_name("web.docs", "query") != child_name("web-docs", "query")


def test_label_values_stay_within_63_characters() -> None:
    for value in ("a" * 64, "a" * 253, "a" * 54 + "-" * 20 + "b"):
        rendered = label_value(value)
        assert len(rendered) <= MAX_LABEL_VALUE
        assert LABEL_VALUE.match(rendered), rendered


def test_unusable_suffix_is_refused() -> None:
    with pytest.raises(ValueError, match="suffix"):
        child_name("docs", "Not_A_Label")


def test_owner_reference_marks_the_controller() -> None:
    assert PIPELINE.reference() == {
        "apiVersion": "faro.dev/v1alpha1",
        "kind": "RagPipeline",
        "name": "docs-pipeline",
        "uid": PIPELINE.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert COLLECTION.reference()["kind"] == "Collection"


def test_standard_labels_of_pipeline_and_collection_children() -> None:
    assert standard_labels(PIPELINE, "query") == {
        "app.kubernetes.io/name": "faro",
        "app.kubernetes.io/instance": "docs-pipeline",
        "app.kubernetes.io/component": "query",
        "app.kubernetes.io/part-of": "faro",
        "app.kubernetes.io/managed-by": "faro-operator",
        "faro.dev/pipeline": "docs-pipeline",
    }
    labels = standard_labels(COLLECTION, "qdrant-bridge")
    assert labels["faro.dev/collection"] == "docs"
    assert "faro.dev/pipeline" not in labels
    assert selector_labels(PIPELINE, "query").items() <= standard_labels(PIPELINE, "query").items()


def test_labels_of_a_long_named_owner_are_valid() -> None:
    owner = Owner.pipeline("p" * 120, "ns", "uid")
    for value in standard_labels(owner, "chunker").values():
        assert len(value) <= MAX_LABEL_VALUE and LABEL_VALUE.match(value)


def test_object_meta_standard_labels_win_over_extra_labels() -> None:
    meta = object_meta(
        PIPELINE, "x", "monitoring", extra_labels={"release": "kps", "app.kubernetes.io/managed-by": "helm"}
    )
    assert meta["namespace"] == PIPELINE.namespace
    assert meta["labels"]["release"] == "kps"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "faro-operator"
    assert meta["ownerReferences"] == [PIPELINE.reference()]
    assert "annotations" not in meta


def test_unknown_owner_kind_has_no_owner_label() -> None:
    with pytest.raises(ValueError, match="no owner label"):
        standard_labels(Owner("v1", "ConfigMap", "x", "ns", "uid"), "x")
