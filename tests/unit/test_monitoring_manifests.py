"""The monitoring manifests (monitoring/kustomization.yaml) that deliver the dashboards and alert rules.

``kubectl kustomize monitoring`` builds; each ConfigMap holds exactly one dashboard file, carries the Grafana
sidecar's label, fits ``kubectl apply``'s annotation limit and is valid for Kubernetes 1.34; the operator's
ServiceMonitor selects the install's metrics Service.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from support.dashboards import DASHBOARDS_DIR
from support.kustomize import kustomize_build

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
KUBERNETES_VERSION = "1.34"
DASHBOARD_NAMESPACE = "monitoring"
# `kubectl apply` (client side) stores the whole object in the last-applied-configuration annotation, and
# annotations are limited to 256 KiB in total; a ConfigMap itself may hold up to 1 MiB.
KUBECTL_APPLY_LIMIT_BYTES = 256 * 1024
SIZE_BUDGET_BYTES = KUBECTL_APPLY_LIMIT_BYTES // 2


def _config_maps() -> list[dict[str, Any]]:
    return [obj for obj in kustomize_build(MONITORING) if obj["kind"] == "ConfigMap"]


def test_the_kustomization_holds_the_rules_and_one_config_map_per_dashboard() -> None:
    objects = kustomize_build(MONITORING)
    assert sorted(obj["kind"] for obj in objects) == [
        *["ConfigMap"] * len(list(DASHBOARDS_DIR.glob("*.json"))),
        "PrometheusRule",
        "ServiceMonitor",
    ]
    (rule,) = [obj for obj in objects if obj["kind"] == "PrometheusRule"]
    assert rule == yaml.safe_load((MONITORING / "prometheus-rule.yaml").read_text())


def test_the_operator_service_monitor_selects_the_operators_metrics_service() -> None:
    """The operator dashboard's series come from this ServiceMonitor: it must match the install's Service."""
    (monitor,) = [obj for obj in kustomize_build(MONITORING) if obj["kind"] == "ServiceMonitor"]
    install = kustomize_build(REPO / "operator" / "deploy" / "base")
    (service,) = [obj for obj in install if obj["kind"] == "Service"]
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_each_config_map_holds_exactly_one_dashboard_file() -> None:
    files = {path.name: path.read_text() for path in DASHBOARDS_DIR.glob("*.json")}
    held: dict[str, str] = {}
    for config_map in _config_maps():
        name = config_map["metadata"]["name"]
        assert list(config_map["data"]) and len(config_map["data"]) == 1, name
        ((key, value),) = config_map["data"].items()
        assert key in files, f"{name}: {key} is not a file of monitoring/dashboards"
        assert value == files[key], f"{name}: {key} differs from the file"
        assert name == "faro-dashboard-" + key.removeprefix("faro-").removesuffix(".json")
        held[key] = name
    assert set(held) == set(files)


def test_the_config_maps_are_found_by_the_grafana_sidecar() -> None:
    for config_map in _config_maps():
        metadata = config_map["metadata"]
        assert metadata["namespace"] == DASHBOARD_NAMESPACE
        assert metadata["labels"]["grafana_dashboard"] == "1"
        assert metadata["annotations"]["grafana_folder"] == "Faro"


def test_the_config_maps_fit_kubectl_apply() -> None:
    for config_map in _config_maps():
        size = len(json.dumps(config_map).encode())
        assert size < SIZE_BUDGET_BYTES, (
            f"{config_map['metadata']['name']}: {size} bytes; `kubectl apply` copies the object into an "
            f"annotation limited to {KUBECTL_APPLY_LIMIT_BYTES} bytes"
        )


def test_the_manifests_are_valid_for_kubernetes_1_34() -> None:
    # kubernetes-validate has schemas for built-in kinds only; the PrometheusRule is the file itself
    # (checked above) and its content is checked by tests/integration/test_alert_rules.py.
    config_maps = _config_maps()
    assert config_maps
    for config_map in config_maps:
        kubernetes_validate.validate(config_map, KUBERNETES_VERSION, strict=True)
