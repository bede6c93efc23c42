"""``kubectl kustomize`` (what ``kubectl apply -k`` applies) for the manifest tests."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

Manifest = dict[str, Any]


@cache
def kustomize_build(directory: Path) -> tuple[Manifest, ...]:
    """The objects ``kubectl kustomize directory`` renders; fails the test when kubectl is missing or the
    build fails."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail(f"kubectl is not on PATH: it is needed to build {directory.relative_to(REPO)}")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"`kubectl kustomize {directory.relative_to(REPO)}` failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc is not None)
