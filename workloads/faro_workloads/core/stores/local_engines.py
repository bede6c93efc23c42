"""What each local-mode Qdrant engine keeps in its folder, so that switching engines never serves a stale
copy: the folder holds a copy of PostgreSQL (rebuilt from it when the counts differ at start), and a copy
the other engine left behind, from before a switch back, could match in count and not in content."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from faro_workloads.contract.settings import LocalEngine

log = logging.getLogger(__name__)

EDGE_FOLDER = "edge"
"""Qdrant Edge's collections and aliases, below the local-mode folder."""
PYTHON_ENGINE_ENTRIES = ("meta.json", "collection", ".lock")
"""qdrant-client's local mode: its collections' list, their SQLite files and its lock file."""


def discard_other_engine(folder: Path, engine: LocalEngine) -> list[Path]:
    """Remove from ``folder`` what the engine other than ``engine`` kept there; the paths removed."""
    entries = PYTHON_ENGINE_ENTRIES if engine == "edge" else (EDGE_FOLDER,)
    removed = []
    for name in entries:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    if removed:
        log.warning(
            "qdrant local mode now runs on the %s engine: removed the other engine's copy (%s); "
            "it is rebuilt from PostgreSQL",
            engine,
            ", ".join(str(path) for path in removed),
        )
    return removed
