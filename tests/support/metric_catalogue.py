"""The metric catalogue ``docs/metrics.md``: which ``faro_*`` metrics exist, and which of them a PromQL
expression uses. Shared by the alert-rule and dashboard tests (import it as
``support.metric_catalogue``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_ROW = re.compile(r"^\|\s*`(faro_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|([^|]*)\|", re.MULTILINE)
_METRIC_TOKEN = re.compile(r"\bfaro_[a-z0-9_]+")


@dataclass(frozen=True)
class CatalogueRow:
    """One row of the table: the metric's type and its labels cell as written (names in backticks, known
    values in parentheses)."""

    type: str
    labels: str


def catalogue_rows() -> list[tuple[str, CatalogueRow]]:
    """Every row of the table of docs/metrics.md, in order (a name listed twice appears twice)."""
    return [
        (row.group(1), CatalogueRow(row.group(2), row.group(3).strip()))
        for row in _ROW.finditer(METRICS_DOC.read_text())
    ]


def catalogue() -> dict[str, str]:
    """Metric name -> type, from the table of docs/metrics.md."""
    return {name: row.type for name, row in catalogue_rows()}


def catalogue_name(token: str, known: dict[str, str]) -> str:
    """The catalogue name behind ``token``: histogram series lose their ``_bucket``/``_sum``/``_count``."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = token.removesuffix(suffix)
        if base != token and known.get(base) == "histogram":
            return base
    return token


def metric_tokens(expr: str) -> set[str]:
    """Every ``faro_*`` name in a PromQL expression (series names as written, suffixes included)."""
    return set(_METRIC_TOKEN.findall(expr))


def unknown_metrics(expr: str, known: dict[str, str]) -> set[str]:
    """The ``faro_*`` names ``expr`` uses that the catalogue does not list."""
    return {token for token in metric_tokens(expr) if catalogue_name(token, known) not in known}
