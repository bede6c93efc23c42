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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))

from support.dashboards import iter_rows, load_dashboards, substitute_variables  # noqa: E402
from support.observability_stack import Stack, local_dependencies, observability_stack  # noqa: E402
from support.prometheus_servers import Prometheus  # noqa: E402

OUTPUT = REPO_ROOT / "docs" / "images" / "dashboards"
POINTS_PER_LINE = 240
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")

# Grafana's dark theme and its classic palette.
BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
MUTED = "#8e8e9e"
PALETTE = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a", "#37872d")
NAMED_COLORS = {
    "red": "#f2495c",
    "green": "#73bf69",
    "yellow": "#f2cc0c",
    "blue": "#5794f2",
    "orange": "#ff780a",
}
GRID_COLUMNS = 24
ROW_UNIT_PIXELS = 26  # one gridPos height unit
FIGURE_WIDTH_PIXELS = 1200
DPI = 100
GAP = 8  # pixels between panels
TITLE_PIXELS = 24
HEADER_PIXELS = 34  # the row's title above its panels
LEGEND_ROW_PIXELS = 15
AXIS_LEFT_PIXELS = 46
AXIS_BOTTOM_PIXELS = 18


Window = tuple[float, float]
"""Start and end of the plotted range (Unix times)."""


@dataclass
class Line:
    legend: str
    times: list[datetime]
    values: list[float]


# ----------------------------------------------------------------------------------------------- units

UNIT_LABELS = {"ops": "ops/s", "percentunit": "%", "short": ""}


def _number(value: float, decimals: int | None = None) -> str:
    """A value with an SI suffix (K, M) and a few significant digits, as Grafana abbreviates."""
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.{1 if decimals is None else decimals}f}{suffix}"
    if decimals is not None:
        return f"{value:.{decimals}f}"
    return f"{value:.3g}"


def seconds_scale(largest: float) -> tuple[float, str]:
    """The factor and name of the time unit that suits values up to ``largest`` seconds."""
    for factor, name in ((3600, "h"), (60, "min"), (1, "s"), (1e-3, "ms")):
        if largest >= factor:
            return factor, name
    return 1e-6, "µs"


def format_value(value: float, unit: str, decimals: int | None = None) -> str:
    """A single value as a stat panel shows it in ``unit`` (the units the Faro dashboards use)."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else "∞"
    if unit == "percentunit":
        return f"{value * 100:.{1 if decimals is None else decimals}f}%"
    if unit == "s":
        factor, name = seconds_scale(abs(value)) if value else (1, "s")
        return f"{_number(value / factor, decimals)} {name}"
    if unit == "ops":
        return f"{_number(value, decimals)} ops/s"
    return _number(value, decimals)


# --------------------------------------------------------------------------------------------- queries


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


# ------------------------------------------------------------------------------------------- drawing


def _overrides(panel: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The properties of ``fieldConfig.overrides`` matching a series called ``name`` (byName, byRegexp)."""
    found: dict[str, Any] = {}
    for override in panel.get("fieldConfig", {}).get("overrides", []):
        matcher = override.get("matcher", {})
        option = str(matcher.get("options", ""))
        if (matcher.get("id") == "byName" and option == name) or (
            matcher.get("id") == "byRegexp" and re.fullmatch(option, name)
        ):
            found.update({prop["id"]: prop.get("value") for prop in override.get("properties", [])})
    return found


def _color(panel: Mapping[str, Any], name: str, index: int) -> str:
    color = _overrides(panel, name).get("color") or {}
    if color.get("mode") == "fixed":
        return NAMED_COLORS.get(color["fixedColor"], color["fixedColor"])
    return PALETTE[index % len(PALETTE)]


class Cell:
    """A panel's rectangle in the figure (pixels from the top left), converted to figure fractions."""

    def __init__(self, figure: Figure, left: float, top: float, width: float, height: float) -> None:
        self.figure = figure
        self.left, self.top, self.width, self.height = left, top, width, height

    def rect(self, left: float = 0, top: float = 0, right: float = 0, bottom: float = 0) -> list[float]:
        """``[x, y, w, h]`` of the cell minus the given margins (pixels), in figure fractions."""
        fig_w, fig_h = self.figure.get_figwidth() * DPI, self.figure.get_figheight() * DPI
        x = (self.left + left) / fig_w
        y = 1 - (self.top + self.height - bottom) / fig_h
        return [x, y, (self.width - left - right) / fig_w, (self.height - top - bottom) / fig_h]

    def frame(self, title: str) -> None:
        """The panel's background, border and title."""
        background = self.figure.add_axes(self.rect())
        background.set_xticks([])
        background.set_yticks([])
        background.set_facecolor(PANEL)
        for spine in background.spines.values():
            spine.set_color(BORDER)
        background.text(
            8 / self.width,
            1 - 13 / self.height,
            title,
            transform=background.transAxes,
            color=TEXT,
            fontsize=9.5,
            fontweight="bold",
            va="center",
        )


def _legend_rows(lines: list[Line], width: float) -> list[list[tuple[int, Line]]]:
    """Legend entries laid out left to right in rows no wider than ``width`` pixels (about 6 px a char)."""
    rows: list[list[tuple[int, Line]]] = [[]]
    used = 0.0
    for index, line in enumerate(lines):
        size = 26 + 5.6 * len(line.legend)
        if rows[-1] and used + size > width:
            rows.append([])
            used = 0
        rows[-1].append((index, line))
        used += size
    return rows


def draw_timeseries(cell: Cell, panel: Mapping[str, Any], lines: list[Line], window: Window) -> None:
    """Lines (stacked where the panel stacks), the unit on the y axis, the legend below as Grafana puts it."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    custom = defaults.get("custom", {})
    unit = defaults.get("unit", "short")
    stacked = custom.get("stacking", {}).get("mode") == "normal"
    fill = float(custom.get("fillOpacity", 0)) / 100
    cell.frame(panel["title"])
    legend_rows = _legend_rows(lines, cell.width - 16)
    legend_height = LEGEND_ROW_PIXELS * len(legend_rows) + 4
    ax = cell.figure.add_axes(
        cell.rect(AXIS_LEFT_PIXELS + 8, TITLE_PIXELS + 4, 10, AXIS_BOTTOM_PIXELS + legend_height + 4)
    )
    ax.set_facecolor(PANEL)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(colors=MUTED, labelsize=7.5, length=0, pad=3)
    ax.grid(True, color=BORDER, linewidth=0.6)
    ax.set_axisbelow(True)
    if not lines:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", va="center", color=MUTED)
        return
    finite = [abs(v) for line in lines for v in line.values if math.isfinite(v)]
    factor, label = (1.0, UNIT_LABELS.get(unit, unit))
    if unit == "s":
        factor, label = seconds_scale(max(finite, default=1.0) or 1.0)
    elif unit == "percentunit":
        factor = 0.01
    baseline: list[float] | None = None
    for index, line in enumerate(lines):
        color = _color(panel, line.legend, index)
        dashed = (_overrides(panel, line.legend).get("custom.lineStyle") or {}).get("fill") == "dash"
        values = [v / factor for v in line.values]
        if stacked:
            values = [0.0 if math.isnan(v) else v for v in values]
            bottom = (
                baseline if baseline is not None and len(baseline) == len(values) else [0.0] * len(values)
            )
            values = [b + v for b, v in zip(bottom, values, strict=True)]
            ax.fill_between(line.times, bottom, values, color=color, alpha=max(fill, 0.25), linewidth=0)
            baseline = values
        elif fill and not dashed:
            ax.fill_between(line.times, values, color=color, alpha=fill, linewidth=0)
        ax.plot(line.times, values, color=color, linewidth=1.4, linestyle=(0, (5, 4)) if dashed else "-")
    low, high = defaults.get("min"), defaults.get("max")
    if low is not None:
        ax.set_ylim(bottom=low / factor)
    if high is not None:
        ax.set_ylim(top=high / factor * 1.04)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _number(value)))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, min_n_ticks=3))
    if label:
        ax.set_ylabel(label, color=MUTED, fontsize=8, labelpad=2)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.xaxis.set_major_locator(_time_locator(window, cell.width))
    ax.set_xlim(datetime.fromtimestamp(window[0]), datetime.fromtimestamp(window[1]))  # as Grafana: one range
    _draw_legend(cell, panel, legend_rows, legend_height)


def _time_locator(window: Window, width: float) -> mdates.DateLocator:
    """Ticks on round seconds or minutes, about one per 110 pixels."""
    span = window[1] - window[0]
    wanted = span / max(3, int(width // 110))
    step = next((s for s in (5, 10, 15, 20, 30, 60, 120, 300, 600) if s >= wanted), 900)
    if step < 60:
        return mdates.SecondLocator(bysecond=range(0, 60, step))
    return mdates.MinuteLocator(byminute=range(0, 60, step // 60))


def _draw_legend(
    cell: Cell, panel: Mapping[str, Any], rows: list[list[tuple[int, Line]]], legend_height: float
) -> None:
    """Grafana's list legend below the plot: a colour mark and the legend text per series."""
    for row_index, row in enumerate(rows):
        x = 10.0
        y = cell.height - 8 - legend_height + 4 + LEGEND_ROW_PIXELS * (row_index + 0.5)
        for index, line in row:
            mark = _to_figure(cell, x, y)
            cell.figure.text(*mark, "━", color=_color(panel, line.legend, index), fontsize=9, va="center")
            cell.figure.text(*_to_figure(cell, x + 16, y), line.legend, color=TEXT, fontsize=7.5, va="center")
            x += 26 + 5.6 * len(line.legend)


def _to_figure(cell: Cell, x: float, y: float) -> tuple[float, float]:
    """A point ``x``, ``y`` pixels from the cell's top left corner, in figure fractions."""
    fig_w, fig_h = cell.figure.get_figwidth() * DPI, cell.figure.get_figheight() * DPI
    return (cell.left + x) / fig_w, 1 - (cell.top + y) / fig_h


def draw_stat(cell: Cell, panel: Mapping[str, Any], lines: list[Line], window: Window) -> None:
    """Grafana's stat panel: the last non-null value of each series side by side, with its legend."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    unit, decimals = defaults.get("unit", "short"), defaults.get("decimals")
    cell.frame(panel["title"])
    if not lines:
        cell.figure.text(
            *_to_figure(cell, cell.width / 2, cell.height / 2), "No data", color=MUTED, ha="center"
        )
        return
    count = len(lines)
    slot = (cell.width - 16) / count
    size = max(10.0, min(30.0, cell.height / 5, slot / 6))
    for index, line in enumerate(lines):
        finite = [value for value in line.values if math.isfinite(value)]
        value = finite[-1] if finite else float("nan")
        x = 8 + slot * (index + 0.5)
        middle = TITLE_PIXELS + (cell.height - TITLE_PIXELS) * 0.45
        cell.figure.text(
            *_to_figure(cell, x, middle),
            format_value(value, unit, decimals),
            color=_color(panel, line.legend, index),
            fontsize=size,
            fontweight="bold",
            ha="center",
            va="center",
        )
        if count > 1 or line.legend:
            cell.figure.text(
                *_to_figure(cell, x, middle + size * 1.1 + 6),
                line.legend,
                color=MUTED,
                fontsize=7.5 if slot > 90 else 6.5,
                ha="center",
                va="center",
            )


DRAW: dict[str, Callable[[Cell, Mapping[str, Any], list[Line], Window], None]] = {
    "timeseries": draw_timeseries,
    "stat": draw_stat,
}


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
