"""The dashboards as Grafana JSON (the Grafana 10.1 schema grafana-foundation-sdk knows)."""

from __future__ import annotations

import json

from faro_dashboards.consistency import CONSISTENCY
from faro_dashboards.model import DATASOURCE, GRID_WIDTH, SCHEMA_VERSION, DashboardSpec, Json, PanelSpec
from faro_dashboards.operator_dashboard import OPERATOR
from faro_dashboards.pipeline_overview import PIPELINE_OVERVIEW
from faro_dashboards.store_comparison import STORE_COMPARISON

DASHBOARDS = (PIPELINE_OVERVIEW, STORE_COMPARISON, CONSISTENCY, OPERATOR)


def _field_config(panel: PanelSpec) -> Json:
    defaults: Json = {
        "unit": panel.unit,
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in panel.thresholds],
        },
    }
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": True,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": panel.threshold_style},
        }
    return {"defaults": defaults, "overrides": list(panel.overrides)}


def _options(panel: PanelSpec) -> Json:
    if panel.kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "orientation": "auto",
        "textMode": "auto",
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
    }


def _panel(panel: PanelSpec, panel_id: int, x: int, y: int) -> Json:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(DATASOURCE),
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "transparent": False,
        "targets": [
            {
                "datasource": dict(DATASOURCE),
                "refId": chr(ord("A") + index),
                "expr": target.expr,
                "legendFormat": target.legend,
                "range": True,
                "instant": False,
                "editorMode": "code",
            }
            for index, target in enumerate(panel.targets)
        ],
        "transformations": [],
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
    }


def _layout(spec: DashboardSpec) -> list[Json]:
    """Row panels, each followed by its panels, left to right and wrapping at the grid width."""
    panels: list[Json] = []
    panel_id, y = 1, 0
    for row in spec.rows:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        panel_id, y = panel_id + 1, y + 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel(panel, panel_id, x, y))
            panel_id, x, line_height = panel_id + 1, x + panel.width, max(line_height, panel.height)
        y += line_height
    return panels


def _label_variable(name: str, label: str, query: str) -> Json:
    """A multi-value query variable offering ``query``'s label values, "All" (any value) by default."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": dict(DATASOURCE),
        "query": query,
        "hide": 0,
        "skipUrlSync": False,
        "multi": True,
        "includeAll": True,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "refresh": 2,
        "sort": 1,
        "regex": "",
    }


def _variables(spec: DashboardSpec) -> list[Json]:
    variables: list[Json] = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "hide": 0,
            "skipUrlSync": False,
            "multi": False,
            "includeAll": False,
            "options": [],
            "refresh": 1,
            "regex": "",
        },
        _label_variable("namespace", "Namespace", f"label_values({spec.variable_metric}, namespace)"),
    ]
    if spec.with_pipeline:
        query = f'label_values({spec.variable_metric}{{namespace=~"$namespace"}}, pipeline)'
        variables.append(_label_variable("pipeline", "Pipeline", query))
    return variables


def dashboard_json(spec: DashboardSpec) -> Json:
    others = [other for other in DASHBOARDS if other is not spec]
    return {
        "uid": spec.uid,
        "title": spec.title,
        "description": spec.description,
        "tags": ["faro"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [
            {
                "title": "Faro dashboards",
                "type": "dashboards",
                "tags": ["faro"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ]
        if others
        else [],
        "templating": {"list": _variables(spec)},
        "panels": _layout(spec),
    }


def render(spec: DashboardSpec) -> str:
    return json.dumps(dashboard_json(spec), indent=2) + "\n"


def rendered() -> dict[str, str]:
    """File name -> content of every dashboard."""
    return {f"{spec.stem}.json": render(spec) for spec in DASHBOARDS}
