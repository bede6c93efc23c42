"""The Grafana dashboards (monitoring/dashboards/).

- The JSON files are what ``scripts/generate_dashboards.py`` writes.
- Each dashboard loads into grafana-foundation-sdk's ``Dashboard`` model without loss: decoded with
  ``Dashboard.from_json`` (panels, queries, options and field configs into their typed plugin models) and
  encoded again, it equals the file, except for a short list of defaults the SDK's encoder always writes
  (``SDK_DEFAULTS``). The SDK silently drops keys its schema does not know, so any such key fails here.
- Layout, variables, panels and queries follow the conventions (rows, ``${datasource}``, namespace and
  pipeline matchers, ``$__rate_interval``, units, descriptions); every metric is in docs/metrics.md.
  Whether each query returns data from the real workloads is checked by
  ``tests/integration/test_prometheus_observability.py`` against a real Prometheus.
- Their delivery to a cluster: ``tests/unit/test_monitoring_manifests.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import common, prometheus, stat, timeseries
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

from support.dashboards import (
    DASHBOARDS_DIR,
    PanelQuery,
    iter_panel_queries,
    iter_panels,
    iter_rows,
    load_dashboards,
    substitute_variables,
)
from support.metric_catalogue import catalogue, metric_tokens, unknown_metrics

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
GENERATOR = REPO / "scripts" / "generate_dashboards.py"
KUBERNETES_VERSION = "1.34"

EXPECTED = {"faro-pipeline-overview", "faro-store-comparison", "faro-consistency", "faro-operator"}
WITHOUT_PIPELINE = {"faro-operator"}  # the operator's metrics carry its namespace only
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PANEL_TYPES = {"timeseries", "stat", "bargauge", "table"}
UNITS = {"ops", "reqps", "s", "percentunit", "short", "none"}
RANGES = {"$__rate_interval", "$__range"}
GRID_WIDTH = 24

# What grafana-foundation-sdk's encoder writes although the file does not: (path with list indexes as [],
# key) -> the value it writes. Only these additions, with exactly these values, are not a difference.
SDK_DEFAULTS: dict[tuple[str, str], object] = {
    # Deprecated dashboard theme (the theme is a user preference since Grafana 8); Grafana ignores it.
    ("$", "style"): "dark",
    # Direction of a repeated panel: meaningless without `repeat`, which no Faro panel sets.
    ("$.panels[]", "repeatDirection"): "h",
    # Variables: a placeholder id (Grafana identifies variables by name) and the settings of "interval"
    # variables (auto step), which no Faro variable is.
    ("$.templating.list[]", "id"): "00000000-0000-0000-0000-000000000000",
    ("$.templating.list[]", "auto"): False,
    ("$.templating.list[]", "auto_min"): "10s",
    ("$.templating.list[]", "auto_count"): 30,
}

DASHBOARDS = load_dashboards()
STEMS = sorted(DASHBOARDS)
PANEL_QUERIES = [query for stem in STEMS for query in iter_panel_queries(DASHBOARDS[stem])]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_dashboards", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their string annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def _differences(original: Any, encoded: Any, path: str = "$") -> Iterator[str]:
    """Where ``encoded`` differs from ``original`` (JSON values), skipping only ``SDK_DEFAULTS``."""
    if isinstance(original, dict) and isinstance(encoded, dict):
        generic = re.sub(r"\[\d+\]", "[]", path)
        for key in sorted(original.keys() | encoded.keys()):
            if key not in encoded:
                yield f"{path}.{key}: lost (was {original[key]!r})"
            elif key not in original:
                default = SDK_DEFAULTS.get((generic, key), object())
                if encoded[key] != default or type(encoded[key]) is not type(default):
                    yield f"{path}.{key}: added {encoded[key]!r}"
            else:
                yield from _differences(original[key], encoded[key], f"{path}.{key}")
    elif isinstance(original, list) and isinstance(encoded, list):
        if len(original) != len(encoded):
            yield f"{path}: {len(original)} items became {len(encoded)}"
        for index, (before, after) in enumerate(zip(original, encoded, strict=False)):
            yield from _differences(before, after, f"{path}[{index}]")
    elif type(original) is not type(encoded) or original != encoded:
        yield f"{path}: {original!r} became {encoded!r}"


def _sdk_round_trip(dashboard: dict[str, Any]) -> tuple[Dashboard, dict[str, Any]]:
    register_default_plugins()
    model = Dashboard.from_json(dashboard)
    return model, json.loads(json.dumps(model, cls=JSONEncoder))


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)


def _balanced(expr: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in _strip_strings(expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def _selectors(expr: str) -> list[tuple[str, str]]:
    """(metric, matchers) for every faro_* series selector; a selector without braces has matchers ""."""
    code = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: m.group(0).replace("{", "(").replace("}", ")"), expr)
    return [
        (match["metric"], match["matchers"] or "")
        for match in re.finditer(r"\b(?P<metric>faro_[a-z0-9_]+)(?:\{(?P<matchers>[^}]*)\})?", code)
    ]


def _variable(dashboard: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((var for var in dashboard["templating"]["list"] if var["name"] == name), None)


def _query_id(query: PanelQuery) -> str:
    return f"{query.dashboard}/{query.panel}/{query.ref_id}"


# --- the files and the SDK -----------------------------------------------------------------------------


def test_the_four_dashboards_exist() -> None:
    assert set(STEMS) == EXPECTED


def test_the_json_files_are_what_the_generator_writes() -> None:
    expected = _generator().rendered()
    actual = {path.name: path.read_text() for path in DASHBOARDS_DIR.glob("*.json")}
    stale = sorted(name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name))
    assert not stale, f"out of date, run `.venv/bin/python scripts/generate_dashboards.py`: {stale}"


@pytest.mark.parametrize("stem", STEMS)
def test_the_dashboard_survives_a_round_trip_through_the_sdk_model(stem: str) -> None:
    original = DASHBOARDS[stem]
    _, encoded = _sdk_round_trip(original)
    differences = list(_differences(original, encoded))
    assert not differences, f"{stem}: the grafana-foundation-sdk round trip changed:\n" + "\n".join(
        differences
    )


@pytest.mark.parametrize("stem", STEMS)
def test_the_sdk_decodes_panels_queries_and_options_into_their_typed_models(stem: str) -> None:
    model, _ = _sdk_round_trip(DASHBOARDS[stem])
    assert model.panels
    option_types = {"timeseries": timeseries.Options, "stat": stat.Options}
    for panel in model.panels:
        if isinstance(panel, RowPanel):
            continue
        assert isinstance(panel, Panel)
        assert panel.targets, panel.title
        for target in panel.targets:
            assert isinstance(target, prometheus.Dataquery), f"{panel.title}: {type(target).__name__}"
        if panel.type_val in option_types:
            assert isinstance(panel.options, option_types[panel.type_val]), panel.title
        if panel.type_val == "timeseries":
            assert isinstance(panel.field_config.defaults.custom, common.GraphFieldConfig), panel.title


# --- dashboard settings and variables ------------------------------------------------------------------


@pytest.mark.parametrize("stem", STEMS)
def test_the_dashboard_settings(stem: str) -> None:
    dashboard = DASHBOARDS[stem]
    assert dashboard["uid"] == stem and len(stem) <= 40
    assert dashboard["title"].startswith("Faro / ")
    assert dashboard["tags"] == ["faro"]
    assert dashboard["schemaVersion"] == Dashboard().schema_version, "use the SDK's schema version"
    assert dashboard["refresh"] == "30s"
    assert dashboard["time"] == {"from": "now-6h", "to": "now"}
    assert dashboard["description"]
    assert "id" not in dashboard, "a provisioned dashboard must not carry a Grafana instance's id"


def test_titles_and_uids_are_unique() -> None:
    assert len({d["uid"] for d in DASHBOARDS.values()}) == len({d["title"] for d in DASHBOARDS.values()}) == 4


@pytest.mark.parametrize("stem", STEMS)
def test_the_variables(stem: str) -> None:
    dashboard = DASHBOARDS[stem]
    names = [var["name"] for var in dashboard["templating"]["list"]]
    expected = (
        ["datasource", "namespace"] if stem in WITHOUT_PIPELINE else ["datasource", "namespace", "pipeline"]
    )
    assert names == expected
    datasource = _variable(dashboard, "datasource")
    assert datasource is not None
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    known = catalogue()
    for name in expected[1:]:
        var = _variable(dashboard, name)
        assert var is not None
        assert var["type"] == "query" and var["datasource"] == DATASOURCE
        assert var["multi"] is True and var["includeAll"] is True, f"{stem}: ${name} is multi + include all"
        assert var["refresh"] == 2, f"{stem}: ${name} refreshes on time range change"
        match = re.fullmatch(
            r"label_values\((?P<metric>faro_[a-z0-9_]+)(?P<sel>\{[^}]*\})?, (?P<label>\w+)\)", var["query"]
        )
        assert match, f"{stem}: ${name} query {var['query']!r} is not label_values(<faro metric>, <label>)"
        assert match["label"] == name
        assert match["metric"] in known, f"{stem}: ${name} reads {match['metric']}, not in docs/metrics.md"
        if name == "pipeline":
            assert match["sel"] == '{namespace=~"$namespace"}', f"{stem}: $pipeline depends on $namespace"


# --- layout --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", STEMS)
def test_rows_hold_the_panels(stem: str) -> None:
    dashboard = DASHBOARDS[stem]
    rows = list(iter_rows(dashboard))
    assert len(rows) >= 2, f"{stem}: fewer than 2 rows"
    ys = [row["gridPos"]["y"] for row, _ in rows if row is not None] + [10**6]
    for index, (row, members) in enumerate(rows):
        assert row is not None, f"{stem}: panels above the first row: {[p['title'] for p in members]}"
        assert row["title"] and row["collapsed"] is False and row["panels"] == [], (
            f"{stem}: row {row['title']}"
        )
        assert row["gridPos"] == {"h": 1, "w": GRID_WIDTH, "x": 0, "y": row["gridPos"]["y"]}
        assert members, f"{stem}: row {row['title']!r} is empty"
        for panel in members:
            top, bottom = panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"]
            assert ys[index] < top and bottom <= ys[index + 1], (
                f"{stem}: {panel['title']!r} is outside its row"
            )


@pytest.mark.parametrize("stem", STEMS)
def test_panel_ids_are_unique_and_grid_positions_do_not_overlap(stem: str) -> None:
    panels = DASHBOARDS[stem]["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"{stem}: duplicate panel ids {ids}"
    boxes = []
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["x"] + pos["w"] <= GRID_WIDTH, panel[
            "title"
        ]
        boxes.append((panel["title"], pos["x"], pos["y"], pos["x"] + pos["w"], pos["y"] + pos["h"]))
    overlaps = [
        (a[0], b[0])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a[1] < b[3] and b[1] < a[3] and a[2] < b[4] and b[2] < a[4]
    ]
    assert not overlaps, f"{stem}: overlapping panels {overlaps}"


# --- panels and queries --------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", STEMS)
def test_every_panel_is_described_and_queries_the_datasource_variable(stem: str) -> None:
    for row, panel in iter_panels(DASHBOARDS[stem]):
        where = f"{stem} / {row} / {panel.get('title')}"
        assert panel["type"] in PANEL_TYPES, where
        assert panel["title"] and panel.get("description"), f"{where}: title and description"
        assert panel["datasource"] == DATASOURCE, where
        assert panel["fieldConfig"]["defaults"].get("unit") in UNITS, f"{where}: unit"
        targets = panel.get("targets", [])
        assert targets, f"{where}: no targets"
        assert len({target["refId"] for target in targets}) == len(targets), f"{where}: duplicate refIds"
        for target in targets:
            assert target["datasource"] == DATASOURCE, where
            assert target.get("expr", "").strip(), f"{where}: target {target['refId']} has no expr"
            assert target.get("legendFormat"), f"{where}: target {target['refId']} has no legendFormat"


@pytest.mark.parametrize("query", PANEL_QUERIES, ids=_query_id)
def test_the_query_filters_by_the_dashboard_variables(query: PanelQuery) -> None:
    stem = next(stem for stem in STEMS if DASHBOARDS[stem]["title"] == query.dashboard)
    required = ['namespace=~"$namespace"']
    if stem not in WITHOUT_PIPELINE:
        required.append('pipeline=~"$pipeline"')
    selectors = _selectors(query.expr)
    assert selectors, f"{query}: no faro_* metric"
    for metric, matchers in selectors:
        for matcher in required:
            assert matcher in matchers, f"{query}: {metric}{{{matchers}}} lacks {matcher}"
    ranges = set(re.findall(r"\[([^\]]*)\]", _strip_strings(query.expr)))
    assert ranges <= RANGES, f"{query}: range windows {ranges - RANGES}; use $__rate_interval"


@pytest.mark.parametrize("query", PANEL_QUERIES, ids=_query_id)
def test_the_query_is_well_formed_and_uses_catalogued_metrics(query: PanelQuery) -> None:
    assert _balanced(query.expr), f"{query}: unbalanced brackets in {query.expr!r}"
    substituted = substitute_variables(query.expr, {"namespace": "faro-demo", "pipeline": "demo"}, "1m")
    assert "$" not in substituted and "[[" not in substituted, f"{query}: {substituted!r}"
    assert metric_tokens(query.expr)
    unknown = unknown_metrics(query.expr, catalogue())
    assert not unknown, f"{query}: metrics not in docs/metrics.md: {sorted(unknown)}"


def test_the_dashboards_cover_what_the_issue_asks_for() -> None:
    def uses(stem: str) -> str:
        return "\n".join(query.expr for query in iter_panel_queries(DASHBOARDS[stem]))

    overview = uses("faro-pipeline-overview")
    for metric in (
        "faro_documents_ingested_total",
        "faro_chunks_written_total",
        "faro_sqs_queue_messages",
        "faro_outbox_pending",
        "faro_ingest_errors_total",
        "faro_outbox_drain_failures_total",
    ):
        assert metric in overview, f"pipeline overview: {metric}"
    stores = uses("faro-store-comparison")
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, sum by (le, backend) (rate(faro_query_seconds_bucket{{" in stores
    for metric in ("faro_query_fallbacks_total", "faro_consistency_points"):
        assert metric in stores, f"store comparison: {metric}"
    consistency = uses("faro-consistency")
    for metric in (
        "faro_consistency_overlap_ratio",
        "faro_consistency_missing_points",
        "faro_consistency_orphan_points",
        "faro_consistency_repaired_points",
    ):
        assert metric in consistency, f"consistency: {metric}"
    operator = uses("faro-operator")
    assert 'faro_operator_reconciles_total{namespace=~"$namespace", result="error"}' in operator
    assert "faro_operator_reconcile_duration_seconds_bucket" in operator


def test_the_overlap_panel_plots_the_minimum_with_a_threshold() -> None:
    (panel,) = [
        panel
        for _, panel in iter_panels(DASHBOARDS["faro-consistency"])
        if any("faro_consistency_overlap_ratio" in target["expr"] for target in panel["targets"])
        and panel["type"] == "timeseries"
    ]
    assert any("faro_consistency_min_overlap_ratio" in target["expr"] for target in panel["targets"])
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults["unit"] == "percentunit" and defaults["max"] == 1
    assert [step["value"] for step in defaults["thresholds"]["steps"]][1:] == [0.95]


# --- substitute_variables ------------------------------------------------------------------------------


def test_substitute_variables_fills_every_syntax_and_the_builtins() -> None:
    expr = (
        'rate(x{a=~"$namespace", b=~"${pipeline}", c="[[pipeline]]", d="${pipeline:raw}"}[$__rate_interval])'
    )
    assert substitute_variables(expr, {"namespace": "ns", "pipeline": "p"}, "2m") == (
        'rate(x{a=~"ns", b=~"p", c="p", d="p"}[2m])'
    )
    assert (
        substitute_variables("$__interval $__range $__range_s $__interval_ms", {}, "1m") == "1m 1m 60 60000"
    )
    assert substitute_variables("$__range", {}, "1m", range_="6h") == "6h"


def test_substitute_variables_escapes_like_grafana_and_rejects_unknown_variables() -> None:
    # A multi-value variable's selection is regex-escaped for a =~ matcher (prometheusSpecialRegexEscape).
    assert substitute_variables('x{n=~"$namespace"}', {"namespace": "a.b"}, "1m") == 'x{n=~"a\\\\.b"}'
    with pytest.raises(KeyError, match="nope"):
        substitute_variables("x{n=~'$nope'}", {}, "1m")
