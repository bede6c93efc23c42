"""Secrets the pods read at start roll the pods when they change (their versions in the pod template)."""

from __future__ import annotations

from faro_operator.builders import build_component_deployment
from faro_operator.builders.component_env import referenced_secrets
from faro_operator.builders.components import Component

from support.operator_builders import PIPELINE, full_pipeline_spec, resolved

CHECKSUM = "c" * 64


def test_a_new_version_of_a_secret_rolls_exactly_the_pods_that_read_it() -> None:
    """The versions of the Secrets a component takes as env are a pod-template annotation: a rotated DSN
    rolls every component, the query service's key only the query service; the keys file is mounted and
    re-read, so its Secret rolls nothing; ``faro render`` (no cluster, no versions) sets no annotation."""
    spec = full_pipeline_spec(access={"apiKeysSecretRef": {"name": "api-keys", "key": "keys.json"}})
    secrets = referenced_secrets(spec, resolved())
    assert secrets == {"pg", "qdrant", "openai", "portkey", "fallback", "query-auth"}  # not "api-keys"
    versions = dict.fromkeys(secrets, "1")

    def checksums(changed: dict[str, str]) -> dict[Component, str]:
        return {
            component: build_component_deployment(
                component, PIPELINE, spec, resolved(), CHECKSUM, {**versions, **changed}
            )["spec"]["template"]["metadata"]["annotations"]["faro.dev/secrets-checksum"]
            for component in (Component.CHUNKER, Component.EMBEDDER, Component.QUERY)
        }

    before = checksums({})
    assert checksums({}) == before  # deterministic
    dsn = checksums({"pg": "2"})
    assert all(dsn[c] != before[c] for c in before)
    query_key = checksums({"query-auth": "2"})
    assert [c for c in before if query_key[c] != before[c]] == [Component.QUERY]
    model_key = checksums({"openai": "2"})
    assert [c for c in before if model_key[c] != before[c]] == [Component.EMBEDDER, Component.QUERY]
    assert checksums({"api-keys": "2"}) == before
    offline = build_component_deployment(Component.QUERY, PIPELINE, spec, resolved(), CHECKSUM)["spec"][
        "template"
    ]["metadata"]["annotations"]
    assert "faro.dev/secrets-checksum" not in offline
