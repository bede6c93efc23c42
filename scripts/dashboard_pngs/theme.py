"""How the README's dashboard pictures look: Grafana's dark theme and classic palette, the pixel sizes of its
grid, and values written in a panel's unit as Grafana abbreviates them."""

from __future__ import annotations

import math

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

UNIT_LABELS = {"ops": "ops/s", "percentunit": "%", "short": ""}


def abbreviated(value: float, decimals: int | None = None) -> str:
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
        return f"{abbreviated(value / factor, decimals)} {name}"
    if unit == "ops":
        return f"{abbreviated(value, decimals)} ops/s"
    return abbreviated(value, decimals)
