"""A reindex killed with SIGKILL mid-backfill, run as users run it (`faro local --no-serve` after a model
change): started again, it completes, and the model was sent each chunk's text once — what the first run
paid for was kept (the embedding cache) and what it had filled stays filled."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.model_servers import RecordingModelServer

pytestmark = pytest.mark.integration

MODEL = "faro-remote-b"


def faro_local(data_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "faro_workloads.cli",
        "local",
        "--data-dir",
        str(data_dir),
        "--no-serve",
        *extra,
    ]


def test_a_reindex_killed_mid_backfill_completes_on_restart_and_embeds_each_chunk_once(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(160):
        body = " ".join(f"Fact {i} of note {n}: the answer to item {i} is {n * i}." for i in range(12))
        (docs / f"note-{n:03d}.md").write_text(f"# Note {n}\n\n{body}\n")
    data_dir = tmp_path / "data"
    first = subprocess.run(
        faro_local(data_dir, "--docs", str(docs)), capture_output=True, text=True, timeout=300, check=False
    )
    assert first.returncode == 0, first.stderr

    with RecordingModelServer(384, MODEL, hold_request=3) as model:
        other_model = (
            "--embedder",
            "portkey",
            "--gateway-url",
            model.url,
            "--model",
            MODEL,
            "--dimension",
            "384",
        )
        log = tmp_path / "killed.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                faro_local(data_dir, *other_model), stdout=out, stderr=subprocess.STDOUT
            )
            deadline = time.monotonic() + 120
            while model.requests < 3:  # two batches answered (and kept); the third is held in the server
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the backfill never reached its third batch"
                time.sleep(0.01)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        model.release.set()
        paid_before_the_kill = len(model.model.sent)
        assert paid_before_the_kill > 0

        again = subprocess.run(
            faro_local(data_dir, *other_model), capture_output=True, text=True, timeout=300, check=False
        )

        assert again.returncode == 0, again.stderr
        assert "generation 2 is live" in again.stdout
        repeated = {text: n for text, n in collections.Counter(model.model.sent).items() if n > 1}
        assert repeated == {}  # nothing the first run was answered was asked again
        assert len(model.model.sent) > paid_before_the_kill
