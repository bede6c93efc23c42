"""How every benchmark reports: a short table for people, then one JSON line (the last line) for tools.

The claim of a benchmark is its ``ratio`` against a baseline measured in the same run on the same machine;
absolute figures are printed too, for context, but they move with the machine's load.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True, slots=True)
class Row:
    """One measured configuration: a name and its figures (column -> value)."""

    name: str
    figures: dict[str, float | int | str]


@dataclass(slots=True)
class BenchReport:
    """The result of one benchmark run.

    ``ratio`` is the headline (Faro against the baseline), ``target`` the value it should reach: at least
    ``target`` when ``higher_is_better`` (the default), at most ``target`` otherwise (e.g. added latency).
    """

    name: str
    ratio: float
    target: float | None
    rows: list[Row]
    parameters: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    higher_is_better: bool = True

    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def json_line(self) -> str:
        payload: dict[str, Any] = {
            "name": self.name,
            "ratio": round(self.ratio, 4),
            "target": self.target,
            "meets_target": self.meets_target(),
            "higher_is_better": self.higher_is_better,
            "parameters": self.parameters,
            "rows": {row.name: row.figures for row in self.rows},
            "machine": machine_summary(),
            **self.extra,
        }
        return json.dumps(payload, sort_keys=False)

    def print(self, out: TextIO = sys.stdout) -> None:
        """The table, a one-line verdict, then the JSON line last."""
        console = Console(file=out, width=120, highlight=False)
        console.print(_table(self.name, self.rows))
        bound = ">=" if self.higher_is_better else "<="
        met = _yes_no(self.meets_target())
        verdict = "" if self.target is None else f" (target {bound} {self.target}: {met})"
        console.print(f"{self.name}: ratio {self.ratio:.3f}{verdict}")
        out.write(self.json_line() + "\n")
        out.flush()


def _yes_no(value: bool | None) -> str:
    return "met" if value else "NOT met"


def _table(title: str, rows: Sequence[Row]) -> Table:
    table = Table(title=title)
    columns: list[str] = []
    for row in rows:
        columns += [column for column in row.figures if column not in columns]
    table.add_column("case")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row.name, *(_cell(row.figures.get(column, "")) for column in columns))
    return table


def _cell(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def machine_summary() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
