"""The keys Secret of a pipeline's data APIs: mounted (whole, no subPath, so a rotation reaches the pods) into
the chunking service and the query service only, with the setting that names the file."""

from __future__ import annotations

import pytest

from faro_operator.access_status import access_modes
from faro_operator.builders import build_component_deployment
from faro_operator.builders.components import Component
from faro_workloads.contract.settings import FaroSettings

from support.operator_builders import PIPELINE, pipeline_spec, pod_spec, resolved, validate_strict

CHECKSUM = "0" * 64
KEYS_REF = {"name": "docs-api-keys", "key": "keys.json"}


def _deployment(component: Component, access: dict | None) -> dict:
    spec = pipeline_spec(access=access) if access is not None else pipeline_spec()
    return build_component_deployment(component, PIPELINE, spec, resolved(), CHECKSUM)


@pytest.mark.parametrize("component", [Component.CHUNKER, Component.QUERY])
def test_the_data_apis_get_the_keys_file_and_its_setting(component: Component) -> None:
    deployment = _deployment(component, {"apiKeysSecretRef": KEYS_REF})
    validate_strict(deployment)
    (container,) = pod_spec(deployment)["containers"]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}

    assert volumes["api-keys"]["secret"] == {
        "secretName": "docs-api-keys",
        "items": [{"key": "keys.json", "path": "keys.json"}],
        "defaultMode": 0o440,
    }  # not optional: a missing Secret keeps the pod from starting instead of opening the API
    mount = next(m for m in container["volumeMounts"] if m["name"] == "api-keys")
    assert mount == {"name": "api-keys", "mountPath": "/etc/faro/access", "readOnly": True}
    assert "subPath" not in mount
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FARO_AUTH__KEYS_FILE"] == "/etc/faro/access/keys.json"
    settings = FaroSettings.model_validate({"auth": {"keys_file": env["FARO_AUTH__KEYS_FILE"]}})
    assert str(settings.auth.keys_file) == "/etc/faro/access/keys.json"


@pytest.mark.parametrize("component", [Component.CHUNKER, Component.EMBEDDER, Component.QUERY])
def test_no_keys_mount_without_a_secret_and_never_in_the_embedder(component: Component) -> None:
    for access in (None, {"apiKeysSecretRef": KEYS_REF}):
        if access is not None and component is not Component.EMBEDDER:
            continue
        deployment = _deployment(component, access)
        (container,) = pod_spec(deployment)["containers"]
        assert "api-keys" not in {v["name"] for v in pod_spec(deployment)["volumes"]}
        assert "FARO_AUTH__KEYS_FILE" not in {e["name"] for e in container.get("env", [])}


def test_closed_by_default_and_anonymous_only_alone() -> None:
    assert pipeline_spec().access.anonymous is False
    with pytest.raises(ValueError, match="exclude each other"):
        pipeline_spec(access={"anonymous": True, "apiKeysSecretRef": KEYS_REF})
    with pytest.raises(ValueError, match="exclude each other"):
        pipeline_spec(access={"anonymous": True}, query={"authSecretRef": {"name": "q", "key": "k"}})
    assert pipeline_spec(access={"anonymous": True}).access.anonymous is True
    assert not pipeline_spec(access={"anonymous": True}).access.accepts_service_accounts
    with pytest.raises(ValueError, match="anonymous access and serviceAccounts exclude each other"):
        pipeline_spec(access={"anonymous": True, "serviceAccounts": True})


@pytest.mark.parametrize(
    ("overrides", "modes"),
    [
        ({}, {"documents": "serviceAccounts", "query": "serviceAccounts"}),
        (
            {"access": {"apiKeysSecretRef": KEYS_REF}},
            {"documents": "apiKeys+serviceAccounts", "query": "apiKeys+serviceAccounts"},
        ),
        (
            {"access": {"apiKeysSecretRef": KEYS_REF, "serviceAccounts": False}},
            {"documents": "apiKeys", "query": "apiKeys"},
        ),
        ({"access": {"serviceAccounts": False}}, {"documents": "closed", "query": "closed"}),
        ({"access": {"anonymous": True}}, {"documents": "anonymous", "query": "anonymous"}),
        (
            {"access": {"serviceAccounts": False}, "query": {"authSecretRef": {"name": "q", "key": "k"}}},
            {"documents": "closed", "query": "apiKey"},
        ),
        ({"query": {"enabled": False}}, {"documents": "serviceAccounts"}),
    ],
)
def test_status_access_says_how_each_data_api_is_reached(overrides: dict, modes: dict) -> None:
    assert access_modes(pipeline_spec(**overrides)) == modes
