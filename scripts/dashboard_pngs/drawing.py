"""Panels drawn with matplotlib as Grafana draws them: a time series (lines, stacked where the panel stacks,
its legend below) or a stat (the last value of each series), inside a panel's rectangle of the row's
figure (:class:`Cell`)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import matplotlib.dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from dashboard_pngs.theme import (
    AXIS_BOTTOM_PIXELS,
    AXIS_LEFT_PIXELS,
    BORDER,
    DPI,
    LEGEND_ROW_PIXELS,
    MUTED,
    NAMED_COLORS,
    PALETTE,
    PANEL,
    TEXT,
    TITLE_PIXELS,
    UNIT_LABELS,
    abbreviated,
    format_value,
    seconds_scale,
)

Window = tuple[float, float]
"""Start and end of the plotted range (Unix times)."""


@dataclass
class Line:
    legend: str
    times: list[datetime]
    values: list[float]


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
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: abbreviated(value)))
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
