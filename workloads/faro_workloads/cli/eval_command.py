"""``faro eval``: a question set against a running pipeline's query API, scored (recall@k, MRR@10, nDCG@10)
for each backend asked, side by side."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from faro_workloads.cli import api_key_option, cli, counted, url_option
from faro_workloads.client import FaroClient
from faro_workloads.contract.golden_queries import GoldenQueries
from faro_workloads.core.document_state import DocumentState
from faro_workloads.core.evaluation import DocumentSearch, RetrievalScore, first_documents

console = Console()
err_console = Console(stderr=True)

DEPTH = 10
"""MRR and nDCG are taken over the first 10 documents, whatever the recall's k."""
TOP_K = 50
"""Chunks asked per question (the query API's default cap, FARO_QUERY__MAX_TOP_K): enough for the first
10 documents unless one document holds most of the nearest chunks."""


@cli.command("eval")
@click.argument("questions", type=click.Path(path_type=Path, dir_okay=False))
@url_option
@api_key_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True, help="The k of recall@k.")
@click.option(
    "--backend",
    "backends",
    type=click.Choice(["auto", "qdrant", "postgres"]),
    multiple=True,
    help="Backend to score (repeat to compare) [default: auto].",
)
@click.option(
    "--mode",
    "modes",
    type=click.Choice(["dense", "lexical", "hybrid"]),
    multiple=True,
    help="Search mode to score (repeat to compare) [default: the server's].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per backend and mode.")
def eval_(
    questions: Path,
    url: str,
    api_key: str | None,
    k: int,
    backends: tuple[str, ...],
    modes: tuple[str, ...],
    as_json: bool,
) -> None:
    """Score a question set against a Faro query API: QUESTIONS is JSON Lines (a *.jsonl file, one
    {"question": ..., "doc_ids": [...]} a line) or a golden-queries YAML/JSON file (the format the cutover
    gate reads).

    A question's answer is the documents of the chunks found, in the order of their best chunk; recall@k is
    the share of its expected documents among the first k, MRR@10 the reciprocal rank of the first one
    within 10, nDCG@10 their discounted gain. Exit 2 for a bad file, 3 when the API cannot be reached.
    """
    from faro_workloads.core.evaluation import load_golden_queries, score_retrieval

    golden = load_golden_queries(questions)
    client = FaroClient(url, api_key)
    try:
        unknown = _unknown_ids(client, golden)
        scores = {}
        for mode in modes or (None,):
            for backend in backends or ("auto",):
                answered: set[str] = set()
                score = score_retrieval(golden, _api_search(client, backend, mode, answered), k, depth=DEPTH)
                scores[backend, _mode_label(mode, answered)] = score
    finally:
        client.close()
    if unknown:
        err_console.print(
            f"warning: {counted(len(unknown), 'expected document id')} match no document (or a deleted "
            f"one), and score as misses: {', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}",
            soft_wrap=True,
        )
    if as_json:
        for (backend, mode), score in scores.items():
            line = {"backend": backend, "mode": mode, "queries": score.queries, "k": k}
            click.echo(json.dumps({**line, **_figures(score), "unknown_ids": unknown}))
        return
    table = Table(title=f"{counted(len(golden.queries), 'question')} from {questions.name}")
    for column in ("backend", "mode", f"recall@{k}", f"MRR@{DEPTH}", f"nDCG@{DEPTH}"):
        table.add_column(column, justify="left" if column in ("backend", "mode") else "right")
    for (backend, mode), score in scores.items():
        figures = _figures(score)
        table.add_row(backend, mode, *(f"{value:.3f}" for value in figures.values()))
    console.print(table)


def _mode_label(asked: str | None, answered: set[str]) -> str:
    """The mode a row scores: the one that answered (the server's default when none was asked), and the one
    asked when it is not what answered (e.g. lexical on an index without terms, answered by vector)."""
    label = " / ".join(sorted(answered)) or (asked or "default")
    return label if asked is None or answered <= {asked} else f"{asked} (answered: {label})"


def _unknown_ids(client: FaroClient, golden: GoldenQueries) -> list[str] | None:
    """The expected ids no document of the API has (or only a deleted one); None when the API cannot tell
    (no documents API: a cluster's query service)."""
    if not client.lists_documents():
        return None
    expected = sorted({doc_id for query in golden.queries for doc_id in query.doc_ids})
    unknown = []
    for doc_id in expected:
        found = client.document(doc_id)
        if found is None or found.get("state") == DocumentState.DELETED:
            unknown.append(doc_id)
    return unknown


def _figures(score: RetrievalScore) -> dict[str, float]:
    return {"recall": round(score.recall, 4), "mrr": round(score.mrr, 4), "ndcg": round(score.ndcg, 4)}


def _api_search(client: FaroClient, backend: str, mode: str | None, answered: set[str]) -> DocumentSearch:
    """The documents the query API finds for each question, best first (a document at its best chunk); the
    modes that answered go into ``answered`` (without ``mode``, the server's default)."""

    def search(texts: Sequence[str], depth: int) -> list[list[str]]:
        ranked = []
        for text in texts:
            answer = client.query(text, TOP_K, backend, mode)
            answered.add(answer.get("mode") or "unknown")
            ranked.append(first_documents((hit["doc_id"] for hit in answer["hits"]), depth))
        return ranked

    return search
