"""Render one PNG per row of every Grafana dashboard in ``monitoring/dashboards/`` from real Prometheus data.

Grafana is not available here, so the README's dashboard pictures are drawn with matplotlib instead: the
script starts the stack of ``tests/support/observability_stack.py`` (Prometheus, Pushgateway, Faro's
workloads, operator and consistency job, with traffic), then evaluates every panel's queries over the run
exactly as Grafana would (the dashboard's variables picked from their ``label_values`` queries,
``$__rate_interval``, ``$__range``) and lays the row's panels out by their ``gridPos``: time series as lines
(stacked where the panel stacks), stat panels as their last value; titles, units and legends from the
dashboard JSON.

    .venv/bin/python scripts/render_dashboard_pngs.py            # writes docs/images/dashboards/*.png

Needs what ``make test`` installs (``scripts/install-system-deps.sh``, the kube-apiserver build, the
``[local,dev]`` extras). Takes about three minutes.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from dashboard_pngs.drawing import DRAW, Cell, Line  # noqa: E402
from dashboard_pngs.theme import (  # noqa: E402
    BACKGROUND,
    DPI,
    FIGURE_WIDTH_PIXELS,
    GAP,
    GRID_COLUMNS,
    HEADER_PIXELS,
    MUTED,
    ROW_UNIT_PIXELS,
    TEXT,
)

from support.dashboards import iter_rows, load_dashboards, substitute_variables  # noqa: E402
from support.observability_stack import Stack, local_dependencies, observability_stack  # noqa: E402
from support.prometheus_servers import Prometheus  # noqa: E402

OUTPUT = REPO_ROOT / "docs" / "images" / "dashboards"
POINTS_PER_LINE = 240
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def legend(legend_format: str, labels: Mapping[str, str]) -> str:
    if not legend_format:
        return "{" + ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"
    return LEGEND_LABEL.sub(lambda match: labels.get(match[1], ""), legend_format)


def panel_lines(
    prometheus: Prometheus, panel: Mapping[str, Any], values: Mapping[str, str], window: tuple[float, float]
) -> list[Line]:
    """Every series of every query of ``panel`` over ``window``, with its legend."""
    start, end = window
    step = max(1.0, (end - start) / POINTS_PER_LINE)
    range_ = f"{math.ceil(end - start)}s"
    lines = []
    for target in panel.get("targets", []):
        if "expr" not in target:
            continue
        expr = substitute_variables(target["expr"], values, "15s", range_=range_)
        answer = prometheus.query_range(expr, start, end, step)
        if answer.get("status") != "success":
            raise RuntimeError(f"{panel['title']}: {expr}: {answer.get('error')}")
        for series in answer["data"]["result"]:
            points = [(float(t), float(v)) for t, v in series["values"]]
            lines.append(
                Line(
                    legend(target.get("legendFormat", ""), series["metric"]),
                    [datetime.fromtimestamp(t) for t, _ in points],
                    [v for _, v in points],
                )
            )
    return sorted(lines, key=lambda line: line.legend)


def render_row(
    prometheus: Prometheus,
    dashboard: Mapping[str, Any],
    row_title: str,
    panels: list[Mapping[str, Any]],
    values: Mapping[str, str],
    window: tuple[float, float],
    counts: dict[str, int],
) -> Figure:
    """One figure laid out like the row in Grafana: 24 columns, the panels' gridPos, a header line; the
    number of series each panel drew goes into ``counts`` (by panel title)."""
    top = min(panel["gridPos"]["y"] for panel in panels)
    units = max(panel["gridPos"]["y"] + panel["gridPos"]["h"] for panel in panels) - top
    height = HEADER_PIXELS + units * ROW_UNIT_PIXELS + GAP
    figure = plt.figure(figsize=(FIGURE_WIDTH_PIXELS / DPI, height / DPI), dpi=DPI)
    figure.patch.set_facecolor(BACKGROUND)
    column = (FIGURE_WIDTH_PIXELS - GAP) / GRID_COLUMNS
    figure.text(
        GAP / FIGURE_WIDTH_PIXELS,
        1 - 17 / height,
        f"{dashboard['title']}  /  {row_title}",
        color=TEXT,
        fontsize=12,
        fontweight="bold",
        va="center",
    )
    chosen = "   ".join(f"{name}: {value}" for name, value in values.items())
    figure.text(
        1 - GAP / FIGURE_WIDTH_PIXELS,
        1 - 17 / height,
        chosen,
        color=MUTED,
        fontsize=8.5,
        ha="right",
        va="center",
    )
    for panel in panels:
        pos = panel["gridPos"]
        cell = Cell(
            figure,
            GAP + pos["x"] * column,
            HEADER_PIXELS + (pos["y"] - top) * ROW_UNIT_PIXELS,
            pos["w"] * column - GAP,
            pos["h"] * ROW_UNIT_PIXELS - GAP,
        )
        draw = DRAW.get(panel["type"])
        if draw is None:
            raise RuntimeError(f"panel {panel['title']!r}: type {panel['type']!r} is not drawn here")
        lines = panel_lines(prometheus, panel, values, window)
        counts[panel["title"]] = len(lines)
        draw(cell, panel, lines, window)
    return figure


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def render_all(stack: Stack, output: Path, log: Callable[[str], None] = print) -> list[Path]:
    """Every row of every dashboard as ``<output>/<dashboard>-<row>.png``; the paths written."""
    output.mkdir(parents=True, exist_ok=True)
    window = (stack.traffic_started - 5, stack.finished)
    written = []
    for stem, dashboard in load_dashboards().items():
        values = stack.variables(dashboard)
        for row, panels in iter_rows(dashboard):
            title = "" if row is None else str(row.get("title", ""))
            counts: dict[str, int] = {}
            figure = render_row(stack.prometheus, dashboard, title, panels, values, window, counts)
            path = output / f"{stem}-{slug(title) or 'top'}.png"
            figure.savefig(path, facecolor=BACKGROUND, dpi=DPI)
            plt.close(figure)
            shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            drawn = ", ".join(f"{name}: {count}" for name, count in counts.items())
            log(f"wrote {shown} (series per panel: {drawn})")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="Folder of the PNGs [%(default)s].")
    parser.add_argument(
        "--traffic-seconds", type=float, default=60.0, help="Document churn after the ingest [%(default)s]."
    )
    args = parser.parse_args(argv)
    began = time.monotonic()

    def log(message: str) -> None:
        print(f"{time.monotonic() - began:6.1f}s {message}", flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="faro-dashboards-") as folder,
        local_dependencies(Path(folder)) as (dsn, moto_url),
        observability_stack(Path(folder), dsn, moto_url, args.traffic_seconds, log) as stack,
    ):
        render_all(stack, args.output, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
