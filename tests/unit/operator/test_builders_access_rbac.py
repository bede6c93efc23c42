"""The bindings that let a pipeline's services review service-account tokens: rendered only when the
pipeline accepts tokens, for the serving components only, and the pods that mount an API token."""

from __future__ import annotations

from faro_operator.builders.access_rbac import (
    build_review_bindings,
    reviews_tokens,
    token_review_binding_name,
)
from faro_operator.builders.components import Component
from faro_operator.builders.owner import Owner

from support.operator_builders import NAMESPACE, PIPELINE, pipeline_spec, validate_strict


def test_both_bindings_name_the_serving_accounts_and_the_review_roles() -> None:
    cluster, local = build_review_bindings(PIPELINE, pipeline_spec())
    for binding in (cluster, local):
        validate_strict(binding)
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"docs-pipeline-{c}", "namespace": NAMESPACE}
            for c in ("chunker", "query")
        ]
    assert cluster["kind"] == "ClusterRoleBinding"
    assert cluster["metadata"]["name"] == "faro:token-review:team-a:docs-pipeline"
    assert cluster["roleRef"]["name"] == "faro-token-reviewer"
    assert cluster["metadata"]["labels"]["faro.dev/namespace"] == NAMESPACE
    assert (local["kind"], local["metadata"]["name"]) == ("RoleBinding", "docs-pipeline-access-review")
    assert local["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "faro-access-reviewer",
    }


def test_no_bindings_and_no_api_token_without_service_account_access() -> None:
    for access in ({"serviceAccounts": False}, {"anonymous": True}):
        spec = pipeline_spec(access=access)
        assert build_review_bindings(PIPELINE, spec) == []
        assert not any(reviews_tokens(spec, component) for component in Component)
    spec = pipeline_spec()
    assert [c for c in Component if reviews_tokens(spec, c)] == [Component.CHUNKER, Component.QUERY]


def test_without_the_query_service_only_the_chunker_reviews() -> None:
    cluster, _ = build_review_bindings(PIPELINE, pipeline_spec(query={"enabled": False}))
    assert [s["name"] for s in cluster["subjects"]] == ["docs-pipeline-chunker"]


def test_binding_names_are_unique_and_bounded() -> None:
    long = Owner.pipeline("p" * 253, "n" * 63, "uid")
    name = token_review_binding_name(long)
    assert len(name) == 253 and name != token_review_binding_name(Owner.pipeline("p" * 252, "n" * 63, "uid"))
    # colons cannot occur in names: namespace "a-b"/pipeline "c" and "a"/"b-c" get different bindings
    first = token_review_binding_name(Owner.pipeline("c", "a-b", "u"))
    assert first != token_review_binding_name(Owner.pipeline("b-c", "a", "u"))
