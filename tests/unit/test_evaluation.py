"""Golden queries: the file is read with bounds and clear errors, and recall@k and MRR are what they say."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from faro_workloads.contract.golden_queries import MAX_FILE_BYTES, GoldenQueries, GoldenQuery
from faro_workloads.core.evaluation import load_golden_queries, score_retrieval
from faro_workloads.errors import ConfigurationError


def golden(*pairs: tuple[str, list[str]]) -> GoldenQueries:
    return GoldenQueries(queries=[GoldenQuery(query=q, doc_ids=ids) for q, ids in pairs])


def answers(found: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def search(questions: Sequence[str], k: int) -> list[list[str]]:
        return [found[q][:k] for q in questions]

    return search


def test_recall_and_mrr_average_over_the_questions() -> None:
    questions = golden(("a", ["d1"]), ("b", ["d2", "d3"]), ("c", ["d9"]))
    found = {"a": ["d1", "x", "y"], "b": ["x", "d3", "d2"], "c": ["x", "y", "z", "d9"]}

    score = score_retrieval(questions, answers(found), k=3)

    # a: recall 1, rank 1; b: recall 1, first hit at rank 2; c: d9 is fourth, outside k=3.
    assert score.recall == pytest.approx((1 + 1 + 0) / 3)
    assert score.mrr == pytest.approx((1 + 0.5 + 0) / 3)
    assert score.queries == 3 and "recall@3 0.667" in score.describe()


def test_a_partial_answer_counts_its_share() -> None:
    score = score_retrieval(golden(("q", ["d1", "d2", "d3", "d4"])), answers({"q": ["d2", "x", "d4"]}), k=3)
    assert score.recall == pytest.approx(0.5) and score.mrr == pytest.approx(1.0)


def test_a_file_in_yaml_or_json_is_read(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text("queries:\n  - query: where\n    docIds: [a, b]\n")
    (tmp_path / "g.json").write_text('{"queries": [{"query": "where", "docIds": ["a"]}]}')
    assert load_golden_queries(tmp_path / "g.yaml").queries[0].doc_ids == ["a", "b"]
    assert load_golden_queries(tmp_path / "g.json").queries[0].query == "where"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("queries: [", "not YAML or JSON"),
        ("- just a list\n", "Input should be a valid dictionary"),
        ("queries: []\n", "queries: List should have at least 1 item"),
        ("queries:\n  - query: q\n    docIds: []\n", "queries.0.docIds: List should have at least 1 item"),
        ("queries:\n  - query: q\n    docIds: [a]\n    extra: 1\n", "queries.0.extra: Extra inputs"),
        # refused when loaded, as the query API would refuse it mid-run (and in pydantic's words, no prefix)
        ("queries:\n  - query: '  '\n    docIds: [a]\n", r"queries\.0\.query: must contain some text$"),
        (b"\xff\xfe", "not YAML or JSON"),
    ],
)
def test_a_bad_file_is_one_line_naming_its_problem(
    tmp_path: Path, content: str | bytes, problem: str
) -> None:
    path = tmp_path / "golden.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigurationError, match=problem) as caught:
        load_golden_queries(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_or_oversized_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_golden_queries(tmp_path / "absent.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_FILE_BYTES + 10))
    with pytest.raises(ConfigurationError, match="larger than"):
        load_golden_queries(big)
