"""Checks of the Prometheus alerting rules in ``monitoring/``.

- ``promtool check rules`` on the rules file and ``promtool test rules`` on its unit tests
  (``monitoring/tests/alerts.test.yaml``). promtool comes from Debian's ``prometheus`` package, installed by
  ``scripts/install-system-deps.sh`` (``make test``); the tests fail, never skip, without it.
- Every alert has a severity, a summary, a description and a runbook_url whose anchor is a heading of
  ``docs/runbooks.md``.
- The PrometheusRule (``monitoring/prometheus-rule.yaml``) holds exactly the rules file's groups.
- Every metric an expression uses is in the catalogue ``docs/metrics.md``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.metric_catalogue import catalogue, unknown_metrics

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = REPO_ROOT / "monitoring" / "prometheus-rules.yaml"
PROMETHEUS_RULE = REPO_ROOT / "monitoring" / "prometheus-rule.yaml"
RULE_TESTS = REPO_ROOT / "monitoring" / "tests" / "alerts.test.yaml"
RUNBOOKS = REPO_ROOT / "docs" / "runbooks.md"
PROMTOOL_TIMEOUT_SECONDS = 60
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")
SEVERITIES = {"critical", "warning", "info"}
RUNBOOK_PREFIX = "https://github.com/faro-dev/faro/blob/main/docs/runbooks.md#"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "the alert-rule tests need 'promtool' on PATH (Debian package 'prometheus'); "
            "install it with `make system-deps` (scripts/install-system-deps.sh, as root)",
            pytrace=False,
        )
    return path


def _run_promtool(*args: str) -> None:
    result = subprocess.run(
        [_promtool(), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, (
        f"promtool {' '.join(args)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _load(RULES_FILE)["groups"] for rule in group["rules"] if "alert" in rule]


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_anchors() -> set[str]:
    return {
        _github_anchor(match.group(1))
        for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", RUNBOOKS.read_text(), re.MULTILINE)
    }


ALERT_NAMES = [alert["alert"] for alert in _alerts()]


def test_promtool_check_rules() -> None:
    _run_promtool("check", "rules", str(RULES_FILE.relative_to(REPO_ROOT)))


def test_promtool_rule_unit_tests() -> None:
    _run_promtool("test", "rules", str(RULE_TESTS.relative_to(REPO_ROOT)))


def test_rules_file_has_the_expected_alerts() -> None:
    assert set(ALERT_NAMES) >= {
        "FaroConsistencyOverlapLow",
        "FaroOutboxBacklogGrowing",
        "FaroDeadLetterQueueNotEmpty",
        "FaroEmbedderErrorRateHigh",
        "FaroQueryLatencyHigh",
        "FaroQdrantCircuitOpen",
        "FaroConsistencyJobNotRunning",
    }
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES)), f"duplicate alert names: {ALERT_NAMES}"


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_alert_has_labels_annotations_and_a_runbook(name: str) -> None:
    (alert,) = [a for a in _alerts() if a["alert"] == name]
    severity = alert.get("labels", {}).get("severity")
    assert severity in SEVERITIES, f"{name}: severity label {severity!r} is not one of {sorted(SEVERITIES)}"
    annotations = alert.get("annotations", {})
    missing = [key for key in REQUIRED_ANNOTATIONS if not str(annotations.get(key, "")).strip()]
    assert not missing, f"{name}: missing or empty annotations {missing}"
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_PREFIX), f"{name}: runbook_url {url!r} is not under {RUNBOOK_PREFIX!r}"
    anchor = url.removeprefix(RUNBOOK_PREFIX)
    assert anchor == name.lower(), f"{name}: runbook anchor {anchor!r} should be {name.lower()!r}"
    assert anchor in _runbook_anchors(), f"{name}: docs/runbooks.md has no heading with anchor #{anchor}"


def test_prometheus_rule_matches_the_rules_file() -> None:
    rule = _load(PROMETHEUS_RULE)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["namespace"] == "faro-system"
    assert rule["metadata"]["labels"].get("release") == "kube-prometheus-stack"
    assert rule["spec"]["groups"] == _load(RULES_FILE)["groups"], (
        "monitoring/prometheus-rule.yaml spec.groups differs from monitoring/prometheus-rules.yaml groups; "
        "edit both files together"
    )


def test_expressions_use_only_catalogued_metrics() -> None:
    known = catalogue()
    assert known, "no metrics found in the table of docs/metrics.md"
    unknown = {
        (group["name"], rule.get("alert") or rule.get("record"), token)
        for group in _load(RULES_FILE)["groups"]
        for rule in group["rules"]
        for token in unknown_metrics(str(rule["expr"]), known)
    }
    assert not unknown, f"metrics not in docs/metrics.md (group, rule, metric): {sorted(unknown)}"
