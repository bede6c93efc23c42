"""Every service fails fast on bad configuration with one readable line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def serve(service: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FARO_")}
    return subprocess.run(
        [sys.executable, "-m", "faro_workloads.cli", "serve", service, "--port", "0"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("service", "env", "expected"),
    [
        ("chunker", {}, "missing configuration: s3 (set FARO_S3__...)"),
        (
            "embedder",
            {"FARO_S3__BUCKET": "chunks", "FARO_QDRANT__URL": "http://q:6333"},
            "configuration: sqs",
        ),
        ("query", {"FARO_COLLECTION__DIMENSION": "many"}, "invalid configuration: collection.dimension"),
        ("query", {"FARO_EMBEDDING__KIND": "portkey"}, "needs gateway_url"),
        ("chunker", {"FARO_S3__BUCKET": "Not_A_Bucket"}, "invalid configuration: s3.bucket"),
        (
            "query",
            {"FARO_COLLECTION__DIMENSION": "768", "FARO_QDRANT__URL": "http://127.0.0.1:1"},
            "returns 384-d vectors but collection 'default' holds 768-d",
        ),
        ("query", {}, "qdrant is an in-memory store, empty in every run: set FARO_QDRANT__URL"),
        (
            "query",
            {"FARO_QDRANT__PATH": "/nonexistent/faro-qdrant"},
            "the Qdrant folder /nonexistent/faro-qdrant does not exist (FARO_QDRANT__PATH)",
        ),
        (
            "query",
            {"FARO_QDRANT__URL": "http://127.0.0.1:1", "FARO_POSTGRES__DSN": "not-a-dsn"},
            "DSN is not",
        ),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(service: str, env: dict[str, str], expected: str) -> None:
    result = serve(service, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("faro: ") and expected in lines[0], lines[0]
