"""``faro render`` refuses what the operator or the API server would refuse, instead of printing children
for it: a pipeline whose model does not fit its Collection, a resource given twice, a key given twice in
one mapping, a Faro resource of another API version."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml

from faro_operator.render import RenderError, load_manifests, modern_cluster, render_children

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "kubernetes"


def _examples() -> list[dict]:
    return load_manifests((EXAMPLES / "collection.yaml").read_text()) + load_manifests(
        (EXAMPLES / "ragpipeline.yaml").read_text()
    )


def test_the_examples_render() -> None:
    assert render_children(_examples(), modern_cluster())


def test_a_pipeline_whose_model_does_not_fit_its_collection_is_refused_as_the_operator_refuses_it() -> None:
    collection, pipeline = _examples()[:2]
    pipeline["spec"]["embedding"]["dimension"] = collection["spec"]["dimension"] * 2
    with pytest.raises(RenderError, match=r"returns \d+-d vectors, Collection \S+ holds \d+-d"):
        render_children([collection, pipeline], modern_cluster())


def test_a_resource_given_twice_is_refused() -> None:
    collection, pipeline = _examples()[:2]
    with pytest.raises(RenderError, match="is in the input twice"):
        render_children([collection, pipeline, pipeline], modern_cluster())


def test_a_faro_resource_of_another_version_is_refused_not_left_out() -> None:
    collection, pipeline = _examples()[:2]
    pipeline["apiVersion"] = "faro.dev/v1"
    with pytest.raises(RenderError, match=r"RagPipeline has apiVersion 'faro\.dev/v1'"):
        render_children([collection, pipeline], modern_cluster())


def test_a_key_given_twice_in_one_mapping_is_refused() -> None:
    text = "apiVersion: faro.dev/v1alpha1\nkind: Collection\nspec:\n  dimension: 384\n  dimension: 512\n"
    with pytest.raises(yaml.YAMLError, match="key 'dimension' given twice in one mapping"):
        load_manifests(io.StringIO(text))
    assert load_manifests("a: 1\n---\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]  # empty documents left out


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [("Collection", ("dimension",), True), ("RagPipeline", ("chunking", "size"), "250")],
    ids=["bool-as-integer", "string-as-integer"],
)
def test_a_value_of_another_type_is_refused_as_the_api_server_refuses_it(
    kind: str, path: tuple[str, ...], value: object
) -> None:
    documents = _examples()[:2]
    spec = next(d for d in documents if d["kind"] == kind)["spec"]
    for key in path[:-1]:
        spec = spec.setdefault(key, {})
    spec[path[-1]] = value
    where = re.escape(".".join(("spec", *path)))
    with pytest.raises(RenderError, match=rf"{kind} \S+: {where}: Input should be a valid"):
        render_children(documents, modern_cluster())
