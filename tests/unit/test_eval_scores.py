"""The scores of `faro eval` and of the golden-queries gate: recall@k, MRR and nDCG on hand-made rankings,
and the question files they read (JSON Lines beside YAML/JSON), with one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from faro_workloads.contract.golden_queries import GoldenQueries
from faro_workloads.core.evaluation import load_golden_queries, score_retrieval
from faro_workloads.errors import ConfigurationError

GOLDEN = GoldenQueries.model_validate(
    {
        "queries": [
            {"query": "a", "docIds": ["x"]},  # found first
            {"query": "b", "docIds": ["y", "z"]},  # z at 2, y at 12 (beyond 10)
            {"query": "c", "docIds": ["w"]},  # not found
        ]
    }
)
RANKINGS = {
    "a": ["x", "p", "q"],
    "b": ["p", "z", *[f"n{i}" for i in range(9)], "y"],
    "c": ["p", "q"],
}


def search(questions, depth):  # type: ignore[no-untyped-def]
    return [RANKINGS[question][:depth] for question in questions]


def test_recall_mrr_and_ndcg_are_computed_as_defined() -> None:
    score = score_retrieval(GOLDEN, search, k=2, depth=10)

    assert score.recall == pytest.approx((1 + 0.5 + 0) / 3)
    assert score.mrr == pytest.approx((1 + 1 / 2 + 0) / 3)
    ideal_b = 1 + 1 / math.log2(3)  # two expected documents, best placed first and second
    assert score.ndcg == pytest.approx((1 + (1 / math.log2(3)) / ideal_b + 0) / 3)
    assert (score.k, score.depth, score.queries) == (2, 10, 3)


def test_without_a_depth_mrr_is_taken_at_k_as_the_gate_does() -> None:
    score = score_retrieval(GOLDEN, search, k=1)
    assert (score.recall, score.mrr, score.depth) == (pytest.approx(1 / 3), pytest.approx(1 / 3), 1)


def test_json_lines_and_yaml_read_alike(tmp_path: Path) -> None:
    lines = tmp_path / "questions.jsonl"
    lines.write_text('{"question": "a", "doc_ids": ["x"]}\n\n{"query": "b", "docIds": ["y", "z"]}\n')
    yaml_file = tmp_path / "golden.yaml"
    yaml_file.write_text("queries:\n  - query: a\n    docIds: [x]\n  - query: b\n    docIds: [y, z]\n")
    assert load_golden_queries(lines) == load_golden_queries(yaml_file)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": "a", "doc_ids": ["x"]}\nnot json\n', "questions.jsonl: not JSON Lines: line 2:"),
        ('{"question": "a"}\n', "questions.jsonl: line 1: doc_ids: Field required"),
        (
            '{"question": "a", "doc_ids": ["x"]}\n\n{"question": ""}\n',
            "questions.jsonl: line 3: question: String",
        ),
        ("", "questions.jsonl: queries: List should have at least 1 item"),
    ],
)
def test_a_bad_question_file_is_one_line_naming_the_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as error:
        load_golden_queries(path)
    assert message in str(error.value) and "\n" not in str(error.value)
