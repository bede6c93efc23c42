"""The evaluation corpora's questions fit their pages; the retrieval benchmark's helpers do what they say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.eval_corpora import CORPORA, EvalCorpus, main, question_problems
from bench.retrieval import windows
from bench.vector_file import FileEmbeddingCache
from faro_workloads.contract.golden_queries import GoldenQueries


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_every_answering_page_is_a_committed_page(name: str) -> None:
    corpus = CORPORA[name]
    pages = corpus.committed_page_ids()
    golden = corpus.questions()
    assert len(golden.queries) >= 40
    assert question_problems(golden, pages, name) == []
    assert len(set(pages)) == len(pages) > 200
    assert all(corpus.keeps(Path(page)) for page in pages)


def test_a_question_naming_a_missing_page_is_reported_with_its_line() -> None:
    golden = GoldenQueries.model_validate(
        {"queries": [{"query": "a", "docIds": ["a.html"]}, {"query": "b", "docIds": ["a.html", "gone.html"]}]}
    )
    assert question_problems(golden, ["a.html"], "set.jsonl") == ["set.jsonl:2: no page gone.html"]


def test_check_command_passes_on_the_committed_corpora(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "git-doc: 45 questions, ok" in capsys.readouterr().out


def test_excluded_pages_and_folders_are_not_pages() -> None:
    corpus = EvalCorpus("x", "x", Path("."), frozenset({"index.html"}), frozenset({"releaselog"}))
    assert corpus.keeps(Path("wal.html"))
    assert corpus.keeps(Path("c3ref/open.html"))
    assert not corpus.keeps(Path("index.html"))
    assert not corpus.keeps(Path("releaselog/3_40_0.html"))
    assert not corpus.keeps(Path("style.css"))


def test_windows_cover_the_text_with_the_overlap() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(2500))
    cut = windows(text, 1000, 200)
    assert [len(w) for w in cut] == [1000, 1000, 900]
    assert cut[0][800:] == cut[1][:200]
    assert cut[-1].endswith(text[-100:])
    assert windows("short", 1000, 200) == ["short"]
    assert windows("   ", 1000, 200) == []


def test_file_cache_keeps_vectors_of_one_model_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "v.npz"
    cache = FileEmbeddingCache(path)
    vectors = {bytes([i]) * 32: np.full(4, i, dtype=np.float32) for i in range(3)}
    cache.remember_embeddings("model-a", vectors)
    cache.save()
    again = FileEmbeddingCache(path)
    found = again.cached_embeddings("model-a", [bytes([1]) * 32, bytes([9]) * 32])
    assert list(found) == [bytes([1]) * 32]
    np.testing.assert_array_equal(found[bytes([1]) * 32], np.full(4, 1, dtype=np.float32))
    assert again.cached_embeddings("model-b", list(vectors)) == {}
    again.remember_embeddings("model-b", {bytes([7]) * 32: np.zeros(4, dtype=np.float32)})
    assert again.cached_embeddings("model-a", list(vectors)) == {}  # another model replaces the file's
