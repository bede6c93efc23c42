"""Every dashboard panel and every alert rule, evaluated by a real Prometheus over Faro's real workloads.

The stack (``tests/support/observability_stack.py``): the Debian ``prometheus`` and ``prometheus-pushgateway``
on loopback; the chunking service, two embedding engines and two query services as ``faro serve`` processes
against moto (S3 + SQS), pgserver (PostgreSQL + pgvector) and Qdrant local mode; ``faro operator`` on a real
kube-apiserver; three ``faro consistency`` runs (consistent, drift, repaired) pushing to the Pushgateway.
After an ingest, queries (some falling back to PostgreSQL) and document churn, Prometheus has scraped it all
every second and evaluated the alert rules every second.

Then: every target is up; Prometheus loaded every rule group of ``monitoring/prometheus-rules.yaml`` and
evaluates it without error, and every alert expression also answers as a query; every query of every panel
of ``monitoring/dashboards/`` (with its dashboard's variables picked from their own ``label_values``
queries, ``$__rate_interval`` = 15 s and ``$__range`` = the run) parses, returns at least one series now and
over the run, with the labels its legend names, and shows a non-zero value at some point of the run (except
the few panels of ``ZERO_IN_THIS_RUN``, each with its reason).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.dashboards import PanelQuery, iter_panel_queries, load_dashboards, substitute_variables
from support.observability_stack import RULES_FILE, Stack, observability_stack

pytestmark = pytest.mark.integration

RANGE_STEP_SECONDS = 2.0
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")

# Panels that stay at zero in this run, and why. Every other panel must show a non-zero value at some point
# of the run: a series that stays at its initial 0 shows nothing that happened.
ZERO_IN_THIS_RUN = {
    ("faro-consistency", "Outbox backlog at check"): "the job checks settled stores: the outbox is empty",
    ("faro-pipeline-overview", "Backfill rate"): "no model or chunking change in this run: no backfill",
    ("faro-pipeline-overview", "Cutovers"): "no model or chunking change in this run: no cutover",
    ("faro-pipeline-overview", "Service-account reviews"): "no caller sends a service-account token here",
}
# Queries of instantaneous gauges that a 1 s scrape may or may not catch above zero (a message is in flight
# for milliseconds): they must return series, but are held to neither zero nor non-zero.
SAMPLED_MOMENTS = {
    ("faro-pipeline-overview", "SQS messages handled", "B"): "faro_embedder_inflight_messages",
}

DASHBOARDS = load_dashboards()
PANEL_QUERIES = [
    (stem, query) for stem, dashboard in DASHBOARDS.items() for query in iter_panel_queries(dashboard)
]
RULE_GROUPS = yaml.safe_load(RULES_FILE.read_text())["groups"]
ALERTS = [rule for group in RULE_GROUPS for rule in group["rules"] if "alert" in rule]


def _panel_id(item: tuple[str, PanelQuery]) -> str:
    stem, query = item
    return f"{stem}/{query.row}/{query.panel}/{query.ref_id}"


@pytest.fixture(scope="module")
def stack(postgres_dsn: str, moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder: Path = tmp_path_factory.mktemp("observability")
    with observability_stack(folder, postgres_dsn, moto_url, traffic_seconds=15) as running:
        yield running


def _range(stack: Stack) -> str:
    """Grafana's ``$__range`` for a dashboard showing the whole run."""
    return f"{math.ceil(stack.finished - stack.started)}s"


def _error(answer: dict[str, Any]) -> str:
    return f"{answer.get('errorType')}: {answer.get('error')}"


def _finite(series: dict[str, Any]) -> bool:
    values = series["values"] if "values" in series else [series["value"]]
    return any(math.isfinite(float(value)) for _, value in values)


def _nonzero(series: dict[str, Any]) -> bool:
    return any(math.isfinite(float(value)) and float(value) != 0 for _, value in series["values"])


def test_every_scrape_target_is_up(stack: Stack) -> None:
    assert stack.prometheus.down_targets() == []
    jobs = {target["labels"]["job"] for target in stack.prometheus.get("targets")["activeTargets"]}
    assert jobs == {"demo-chunker", "demo-embedder", "demo-query", "faro-operator", "pushgateway"}


def test_prometheus_evaluates_every_rule_group_without_error(stack: Stack) -> None:
    time.sleep(1.5)  # at least one evaluation after the scenario
    loaded = {group["name"]: group for group in stack.prometheus.get("rules")["groups"]}

    assert set(loaded) == {group["name"] for group in RULE_GROUPS}
    for group in RULE_GROUPS:
        rules = {rule["name"]: rule for rule in loaded[group["name"]]["rules"]}
        assert set(rules) == {rule["alert"] for rule in group["rules"]}
        for name, rule in rules.items():
            assert (rule["health"], rule.get("lastError", "")) == ("ok", ""), (
                f"{name}: {rule.get('lastError')}"
            )


@pytest.mark.parametrize("rule", ALERTS, ids=[rule["alert"] for rule in ALERTS])
def test_alert_expression_evaluates(stack: Stack, rule: dict[str, Any]) -> None:
    expr = rule["expr"]

    instant = stack.prometheus.query(expr, at=stack.finished)
    ranged = stack.prometheus.query_range(expr, stack.started, stack.finished, RANGE_STEP_SECONDS)

    assert instant["status"] == "success", f"{rule['alert']}: {expr}\n{_error(instant)}"
    assert ranged["status"] == "success", f"{rule['alert']}: {expr}\n{_error(ranged)}"


def test_alerts_on_this_run_fire_where_the_run_gave_them_cause(stack: Stack) -> None:
    """The run's drift (overlap below the minimum) and dead-lettered message match their alert expressions
    at some point of the run: the expressions select the series the workloads really export."""
    by_name = {rule["alert"]: rule["expr"] for rule in ALERTS}
    for name in ("FaroConsistencyOverlapLow", "FaroDeadLetterQueueNotEmpty"):
        answer = stack.prometheus.query_range(
            by_name[name], stack.started, stack.finished, RANGE_STEP_SECONDS
        )
        assert answer["status"] == "success", _error(answer)
        assert answer["data"]["result"], f"{name} never matched during the run: {by_name[name]}"


@pytest.mark.parametrize("item", PANEL_QUERIES, ids=[_panel_id(item) for item in PANEL_QUERIES])
def test_panel_query_returns_series(stack: Stack, item: tuple[str, PanelQuery]) -> None:
    stem, panel = item
    values = stack.variables(DASHBOARDS[stem])
    expr = substitute_variables(panel.expr, values, stack.rate_interval, range_=_range(stack))
    where = f"{panel}\n  expr: {expr}"

    instant = stack.prometheus.query(expr, at=stack.finished)
    assert instant["status"] == "success", f"{where}\n  {_error(instant)}"
    series = instant["data"]["result"]
    assert series, f"{where}\n  returned no series at the end of the run"
    ranged = stack.prometheus.query_range(expr, stack.started, stack.finished, RANGE_STEP_SECONDS)
    assert ranged["status"] == "success", f"{where}\n  {_error(ranged)}"
    matrix = ranged["data"]["result"]
    assert matrix, f"{where}\n  returned no series over the run"
    assert any(_finite(line) for line in matrix), f"{where}\n  only NaN over the run"
    nonzero = any(_nonzero(line) for line in matrix)
    reason = ZERO_IN_THIS_RUN.get((stem, panel.panel))
    if (stem, panel.panel, panel.ref_id) in SAMPLED_MOMENTS:
        pass
    elif reason is None:
        assert nonzero, f"{where}\n  zero all along the run: the panel shows nothing that happened"
    else:
        assert not nonzero, f"{where}\n  now shows data: remove it from ZERO_IN_THIS_RUN ({reason})"
    for label in LEGEND_LABEL.findall(panel.legend_format):
        missing = [line["metric"] for line in matrix if label not in line["metric"]]
        assert not missing, f"{where}\n  legend {panel.legend_format!r}: no {label!r} label on {missing}"


def test_the_exemptions_name_existing_panel_queries() -> None:
    panels = {(stem, query.panel) for stem, query in PANEL_QUERIES}
    queries = {(stem, query.panel, query.ref_id) for stem, query in PANEL_QUERIES}
    assert set(ZERO_IN_THIS_RUN) <= panels, set(ZERO_IN_THIS_RUN) - panels
    assert set(SAMPLED_MOMENTS) <= queries, set(SAMPLED_MOMENTS) - queries
