"""The golden queries of a pipeline's cutover gate: its ConfigMap mounted into the embedding engine (which
runs the gate), and the file path the settings name.

The volume is ``optional``: a ConfigMap missing (or a key absent) must not keep the embedder from starting
and ingesting; the gate then blocks the cutover with ``GoldenQueriesInvalid`` and says which file it could
not read. No ``subPath``, so an edited ConfigMap reaches the pod without a restart.
"""

from __future__ import annotations

from typing import Any

from faro_operator.specs import RagPipelineSpec

GOLDEN_QUERIES_VOLUME = "golden-queries"
GOLDEN_QUERIES_DIR = "/etc/faro/golden-queries"


def golden_queries_path(spec: RagPipelineSpec) -> str | None:
    """Where the embedding engine reads the golden queries, or None when the spec names none."""
    ref = spec.generations.golden_queries
    return f"{GOLDEN_QUERIES_DIR}/{ref.key}" if ref is not None else None


def golden_queries_volume(spec: RagPipelineSpec) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The (volume, volumeMount) of the golden-queries ConfigMap, or None when the spec names none."""
    ref = spec.generations.golden_queries
    if ref is None:
        return None
    volume = {
        "name": GOLDEN_QUERIES_VOLUME,
        "configMap": {"name": ref.config_map, "items": [{"key": ref.key, "path": ref.key}], "optional": True},
    }
    mount = {"name": GOLDEN_QUERIES_VOLUME, "mountPath": GOLDEN_QUERIES_DIR, "readOnly": True}
    return volume, mount
