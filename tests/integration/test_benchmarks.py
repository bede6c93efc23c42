"""Every benchmark runs end to end at a tiny size and ends with a valid JSON line (keeps bench/ from rotting).

Each case is ``python -m bench.<name> <tiny-size args>``; the last stdout line must be JSON with at least
``name`` and ``ratio``. Cases for further benchmarks are added to :data:`CASES`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CASES: list[tuple[str, list[str]]] = [
    ("ingest", ["--chunks", "40", "--chunks-per-doc", "4", "--repeat", "1", "--warmup", "0"]),
    ("repair", ["--chunks", "40", "--chunks-per-doc", "4", "--repeat", "1", "--warmup", "0"]),
    ("query", ["--chunks", "40", "--queries", "20", "--warmup", "5", "--concurrency", "4"]),
    # tests/data holds one HTML page: the test does not download Debian's python3.11-doc.
    ("chunking", ["--corpus", "tests/data", "--repeat", "1"]),
    ("gateway", ["--models", "hash", "--requests", "5", "--warmup", "1"]),
    ("qdrant_local_churn", ["--cycles", "5", "--transient-chunks", "20", "--queries", "5"]),
    # The two refused uploads keep their full size (they exceed fixed limits); the processed ones shrink.
    ("upload_liveness", ["--idle-seconds", "0.5", "--scale", "0.02"]),
    ("reindex", ["--chunks", "40", "--chunks-per-doc", "4", "--repeat", "1", "--warmup", "0"]),
    ("bucket_sync", ["--keys", "300"]),
    ("storage", ["--chunks", "40", "--dimensions", "16,64"]),
    # 1 and 2 engine processes (and 2 against an instant model), 6 documents each.
    ("scale", ["--documents", "6", "--chunks-per-doc", "4", "--batch-size", "2", "--processes", "1,2"]),
    # examples/docs and its questions stand in for the Debian corpora (no download; MiniLM, 9 chunks).
    (
        "retrieval",
        ["--pages", "examples/docs", "--questions", "examples/eval/questions.jsonl", "--no-vector-cache"],
    ),
]


@pytest.mark.parametrize(("name", "args"), CASES, ids=[name for name, _ in CASES])
def test_benchmark_prints_json_last(name: str, args: list[str]) -> None:
    """The test install has the [bench] extra (the chunking baselines): every case runs, none is skipped."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["name"] == name
    assert isinstance(last["ratio"], float | int)
    if name == "query":  # closed loop with 1 and 4 clients, open loop at each default rate, then hybrid
        cases = ("x1", "x4", "x4 @50/s", "x4 @200/s", "hybrid x1", "hybrid x4")
        assert set(last["rows"]) == {
            f"{backend} {case}" for backend in ("qdrant", "postgres") for case in cases
        }
        rates = {row["rate/s"] for row in last["rows"].values()}
        assert rates == {"closed loop", 50.0, 200.0, "closed loop (hybrid vs dense)"}
        assert set(last["hybrid_added_p50_ms"]) == {"qdrant", "postgres"}
        loaded = {f"{backend} {case}" for backend in ("qdrant", "postgres") for case in ("x4", "hybrid x4")}
        assert set(last["req_per_s_ratio"]) == loaded
        assert all(row["faro req/s"] > 0 and row["raw req/s"] > 0 for row in last["rows"].values())
    if name == "storage":  # every part counted, per dimension; the larger vectors take more room
        sizes = last["rows"]["total"]
        assert 0 < sizes["16-d bytes/chunk"] < sizes["64-d bytes/chunk"]
    if name == "scale":  # every setting ingested every chunk: 24 chunks per run
        assert set(last["rows"]) == {
            "1 process",
            "2 processes",
            "2 processes, model 0 ms (ceiling of the rest)",
        }
        assert last["two_process_ratio"] > 0 and last["ceiling_chunks_per_s"] > 0
    if name == "upload_liveness":  # every pathological upload got its status: refused or stored
        assert last["statuses_as_expected"], last["statuses"]
