"""The Grafana dashboards of ``monitoring/dashboards/``: loading, walking their queries, Grafana's variables.

Shared by ``tests/unit/test_dashboards.py`` (structure, schema round-trip, install manifests) and the
integration test that evaluates every panel's PromQL against a real Prometheus. Import it as
``support.dashboards`` (``tests/`` is on ``sys.path``: ``pythonpath`` in ``pyproject.toml``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS_DIR = REPO_ROOT / "monitoring" / "dashboards"

Dashboard = dict[str, Any]
Panel = dict[str, Any]


@dataclass(frozen=True)
class PanelQuery:
    """One query (target) of one panel, with where it sits in its dashboard."""

    dashboard: str  # dashboard title
    row: str  # title of the row panel the panel belongs to ("" for a panel above the first row)
    panel: str  # panel title
    panel_id: int
    ref_id: str
    expr: str
    legend_format: str  # "" when the target sets none

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.row} / {self.panel} [{self.ref_id}]"


def dashboard_paths() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def load_dashboards() -> dict[str, Dashboard]:
    """Every dashboard of ``monitoring/dashboards/``: file stem -> parsed JSON."""
    return {path.stem: json.loads(path.read_text()) for path in dashboard_paths()}


def iter_rows(dashboard: Mapping[str, Any]) -> Iterator[tuple[Panel | None, list[Panel]]]:
    """(row panel, the panels under it) in layout order; the first row is ``None`` if panels precede rows.

    Grafana keeps the panels of an expanded row after the row panel in ``panels`` (sorted by gridPos) and
    those of a collapsed row inside the row's own ``panels``; both are handled.
    """
    row: Panel | None = None
    members: list[Panel] = []
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            if row is not None or members:
                yield row, members
            row, members = panel, list(panel.get("panels", []))
        else:
            members.append(panel)
    if row is not None or members:
        yield row, members


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, Panel]]:
    """(row title, panel) for every non-row panel."""
    for row, members in iter_rows(dashboard):
        row_title = "" if row is None else str(row.get("title", ""))
        for panel in members:
            yield row_title, panel


def iter_panel_queries(dashboard: Mapping[str, Any]) -> Iterator[PanelQuery]:
    """Every target with a PromQL ``expr`` of every non-row panel, in layout order."""
    title = str(dashboard.get("title", ""))
    for row_title, panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" not in target:
                continue
            yield PanelQuery(
                dashboard=title,
                row=row_title,
                panel=str(panel.get("title", "")),
                panel_id=int(panel["id"]),
                ref_id=str(target.get("refId", "")),
                expr=str(target["expr"]),
                legend_format=str(target.get("legendFormat", "")),
            )


# Grafana's variable syntaxes: $name, ${name}, ${name:format} and the deprecated [[name]] / [[name:format]].
_VARIABLE = re.compile(
    r"\$(?P<plain>\w+)|\$\{(?P<braced>\w+)(?::(?P<format>[^}]+))?\}|\[\[(?P<old>\w+)(?::(?P<old_format>[^\]]+))?\]\]"
)


def _duration_seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", duration)
    if not parts or "".join(number + unit for number, unit in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    for number, unit in parts:
        total += float(number) * units[unit]
    return total


def _milliseconds(duration: str) -> str:
    return str(round(_duration_seconds(duration) * 1000))


def _format_value(value: str, fmt: str | None, variable: str) -> str:
    """One selected value as Grafana's Prometheus data source interpolates it into a query.

    Without a format, a multi-value / include-all variable (all of the Faro dashboards' variables) goes
    through ``prometheusSpecialRegexEscape``: backslashes and regex metacharacters are escaped for use inside
    a ``=~"..."`` string literal. Kubernetes names (``[a-z0-9.-]``) only ever hit the ``.``.
    """
    if fmt is None:
        escaped = value.replace("\\", "\\\\\\\\")
        return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", escaped)
    if fmt in {"raw", "text"}:
        return value
    raise ValueError(f"variable {variable!r}: format {fmt!r} is not supported here")


def substitute_variables(
    expr: str,
    values: Mapping[str, str],
    rate_interval: str,
    *,
    interval: str | None = None,
    range_: str | None = None,
) -> str:
    """``expr`` as Grafana sends it to Prometheus when each variable has the single value ``values[name]``.

    ``values`` holds the dashboard variables (``namespace``, ``pipeline``, ...) by name; every syntax is
    replaced (``$name``, ``${name}``, ``${name:raw}``, ``[[name]]``), the value escaped as Grafana's
    Prometheus data source escapes a multi-value variable's single selection (see ``_format_value``; for
    Kubernetes names that is the value itself apart from ``.``).

    Grafana's built-ins: ``$__rate_interval`` becomes ``rate_interval``; ``$__interval`` becomes ``interval``
    and ``$__range`` ``range_`` (both default to ``rate_interval``), with ``_ms`` / ``_s`` variants in
    milliseconds / seconds. A variable that is neither given nor built-in raises ``KeyError``, so a typo in
    a dashboard fails whatever substitutes it.
    """
    interval = interval or rate_interval
    range_ = range_ or rate_interval
    builtins = {
        "__rate_interval": rate_interval,
        "__rate_interval_ms": _milliseconds(rate_interval),
        "__interval": interval,
        "__interval_ms": _milliseconds(interval),
        "__range": range_,
        "__range_ms": _milliseconds(range_),
        "__range_s": str(round(_duration_seconds(range_))),
    }

    def replace(match: re.Match[str]) -> str:
        name = match["plain"] or match["braced"] or match["old"]
        fmt = match["format"] or match["old_format"]
        if name in values:
            return _format_value(values[name], fmt, name)
        if name in builtins:
            return builtins[name]
        raise KeyError(f"variable ${name} in {expr!r} has no value")

    return _VARIABLE.sub(replace, expr)
