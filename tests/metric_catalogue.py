"""The metric catalogue ``docs/metrics.md``: which ``faro_*`` metrics exist, and which of them a PromQL
expression uses. Shared by the alert-rule and dashboard tests (import it as ``metric_catalogue``)."""

from __future__ import annotations

import re
from pathlib import Path

METRICS_DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_ROW = re.compile(r"^\|\s*`(faro_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|", re.MULTILINE)
_METRIC_TOKEN = re.compile(r"\bfaro_[a-z0-9_]+")


def catalogue() -> dict[str, str]:
    """Metric name -> type, from the table of docs/metrics.md."""
    return {row.group(1): row.group(2) for row in _ROW.finditer(METRICS_DOC.read_text())}


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
