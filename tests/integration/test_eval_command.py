"""`faro eval` against a running query API on real stores: it scores each backend asked, the two backends
agree on a small exact collection, and its figures are the ones the stores give when asked directly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.evaluation import load_golden_queries, score_retrieval, vector_document_search
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.text_extraction import detect_format, extract_text
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = REPO / "examples" / "eval" / "questions.jsonl"
DIMENSION = 256


@pytest.fixture
def served(pg_store_factory, qdrant_store_factory) -> Iterator[tuple[str, DataPlane]]:
    pg = pg_store_factory(dimension=DIMENSION)
    plane = DataPlane(pg, qdrant_store_factory(pg.collection), HashingEmbedder(dimension=DIMENSION))
    for path in sorted((REPO / "examples" / "docs").iterdir()):
        fmt = detect_format(path.name, None)
        plane.ingest.ingest(IncomingDocument(path.name, extract_text(path.read_bytes(), fmt), "test", fmt))
    server = BackgroundServer(plane.api(), "127.0.0.1", free_port())
    server.start()
    try:
        yield server.url, plane
    finally:
        server.stop()
        plane.close()


def faro(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "faro_workloads.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_each_backend_and_mode_is_scored_and_dense_matches_the_stores_asked_directly(served) -> None:
    url, plane = served
    done = faro(
        "eval",
        str(QUESTIONS),
        "--url",
        url,
        "-k",
        "3",
        "--backend",
        "qdrant",
        "--backend",
        "postgres",
        "--mode",
        "dense",
        "--mode",
        "hybrid",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    rows = {(row["backend"], row["mode"]): row for row in map(json.loads, done.stdout.splitlines())}
    assert set(rows) == {(b, m) for b in ("qdrant", "postgres") for m in ("dense", "hybrid")}
    assert rows["qdrant", "dense"]["queries"] == 10 and rows["qdrant", "dense"]["k"] == 3
    assert rows["qdrant", "dense"]["unknown_ids"] == [] and "warning" not in done.stderr
    for mode in ("dense", "hybrid"):
        for name in ("recall", "mrr", "ndcg"):  # exact search on both; fusion is Faro's on both
            assert rows["qdrant", mode][name] == pytest.approx(rows["postgres", mode][name])

    direct = score_retrieval(
        load_golden_queries(QUESTIONS), vector_document_search(plane.embedder, plane.qdrant), k=3, depth=10
    )
    dense = rows["qdrant", "dense"]
    assert (dense["recall"], dense["mrr"], dense["ndcg"]) == pytest.approx(
        (direct.recall, direct.mrr, direct.ndcg), abs=1e-4
    )
    assert direct.recall > 0.5  # the hashing model finds most answers on five distinct pages

    table = faro("eval", str(QUESTIONS), "--url", url)
    assert table.returncode == 0 and "recall@5" in table.stdout and "nDCG@10" in table.stdout
    assert "│ hybrid " in table.stdout  # the mode the server answered with by default, by its name


def test_expected_ids_no_document_has_are_named_in_a_warning(served, tmp_path: Path) -> None:
    url, plane = served
    plane.ingest.delete("overview.md")
    questions = tmp_path / "questions.jsonl"
    lines = [
        {"question": "How does the outbox reach Qdrant?", "doc_ids": ["dual-write.md"]},
        {"question": "What does the overview say?", "doc_ids": ["overview.md"]},  # deleted since
        {"question": "Where is the runbook?", "doc_ids": ["runbok.md", "dual-write.md"]},  # a typo
    ]
    questions.write_text("".join(json.dumps(line) + "\n" for line in lines))

    done = faro("eval", str(questions), "--url", url, "--json")

    assert done.returncode == 0, done.stderr
    assert "warning: 2 expected document ids match no document" in " ".join(done.stderr.split())
    assert "overview.md, runbok.md" in done.stderr
    assert json.loads(done.stdout.splitlines()[0])["unknown_ids"] == ["overview.md", "runbok.md"]


def test_a_bad_file_and_an_unreachable_api_are_one_line_each(tmp_path: Path) -> None:
    broken = tmp_path / "questions.jsonl"
    broken.write_text('{"question": "where?"}\n')
    bad = faro("eval", str(broken))
    assert (
        bad.returncode == 2
        and bad.stderr.count("\n") == 1
        and "questions.jsonl: line 1: doc_ids: Field required" in bad.stderr
    )
    down = faro("eval", str(QUESTIONS), "--url", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 3 and down.stderr.startswith("faro: cannot reach the API")
