"""Write the Grafana dashboards of ``monitoring/dashboards/`` (the JSON files are generated: edit
``scripts/faro_dashboards/``, the dashboards as code).

    .venv/bin/python scripts/generate_dashboards.py          # rewrite the JSON files
    .venv/bin/python scripts/generate_dashboards.py --check  # exit 1 when a file differs from its source

``tests/unit/test_dashboards.py`` fails when the JSON files and this source disagree, and checks the
dashboards (schema round-trip through grafana-foundation-sdk, layout, queries, metric names).

Conventions: metrics and labels from ``docs/metrics.md`` only; every query filters by
``namespace=~"$namespace"`` and (except on the operator dashboard, whose metrics have no pipeline label)
``pipeline=~"$pipeline"``; rates use ``$__rate_interval``. Error panels need no ``or vector(0)`` fallback:
the services create every known label value of their counters at 0 when they start, so "no errors" is a
zero line and an empty panel means "no data". Keys are limited to what the Grafana 10.1 schema of
grafana-foundation-sdk knows (``schemaVersion`` 36; Grafana migrates it on load).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # faro_dashboards, beside this script

from faro_dashboards.render import rendered

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIR = REPO_ROOT / "monitoring" / "dashboards"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    stale = []
    for name, content in rendered().items():
        path = OUTPUT_DIR / name
        if path.exists() and path.read_text() == content:
            continue
        stale.append(name)
        if not args.check:
            OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if args.check and stale:
        print(f"out of date (run {Path(__file__).relative_to(REPO_ROOT)}): {', '.join(stale)}")
        return 1
    for name in stale:
        print(f"wrote monitoring/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
