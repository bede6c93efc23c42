"""Local-mode and client commands: ``faro local``, ``faro query``, ``faro model-server``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from faro_workloads.cli import api_key_option, cli, counted, url_option
from faro_workloads.contract.chunking import DEFAULT_SEMANTIC_PERCENTILE, ChunkingStrategy
from faro_workloads.contract.generations import APPROVABLE
from faro_workloads.contract.settings import DEFAULT_LOCAL_ENGINE, LocalEngine
from faro_workloads.document_files import skipped_note

if TYPE_CHECKING:
    from faro_workloads.core.generation_control import GenerationController, StepReport

console = Console(stderr=False)
err_console = Console(stderr=True)


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".faro-data"),
    show_default=True,
    help="Where PostgreSQL and Qdrant keep their data.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--keys-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="API keys (faro keys new --file ...), re-read when changed; without, the API is open.",
)
@click.option(
    "--embedder",
    type=click.Choice(["hash", "minilm", "portkey"]),
    default="hash",
    show_default=True,
    help="hash: offline hashing; minilm: real all-MiniLM-L6-v2; portkey: a model via a Portkey gateway.",
)
@click.option(
    "--docs",
    "docs",
    type=click.Path(exists=True, path_type=Path),
    multiple=True,
    help="Ingest this file or folder at start (repeatable).",
)
@click.option(
    "--strategy",
    type=click.Choice(get_args(ChunkingStrategy)),
    default="markdown",
    show_default=True,
    help="Chunking strategy (semantic: cut where the model sees the subject change; embeds each sentence).",
)
@click.option(
    "--semantic-percentile",
    type=click.IntRange(50, 99),
    default=DEFAULT_SEMANTIC_PERCENTILE,
    show_default=True,
    help="With --strategy semantic: cut at sentence gaps further apart than this percentile.",
)
@click.option("--chunk-size", type=click.IntRange(8, 8192), default=250, show_default=True, help="Tokens.")
@click.option("--chunk-overlap", type=click.IntRange(0, 4096), default=32, show_default=True, help="Tokens.")
@click.option("--gateway-url", help="Portkey gateway URL (with --embedder portkey).")
@click.option("--model", help="Model name (with --embedder portkey).")
@click.option("--dimension", type=click.IntRange(1, 16000), help="Model dimension (with --embedder portkey).")
@click.option(
    "--s3",
    "s3_path",
    is_flag=True,
    help="Go through the cluster's path: local S3/SQS server, chunk objects, embedding worker. "
    "The bucket is kept under --data-dir: what was answered 202 survives a crash.",
)
@click.option(
    "--cutover",
    type=click.Choice(["automatic", "manual"]),
    default="automatic",
    show_default=True,
    help="After a model or chunking change: switch to the new index generation once it passes the gate, "
    "or wait for `faro generations promote`.",
)
@click.option(
    "--retain",
    type=click.IntRange(0, 10),
    default=1,
    show_default=True,
    help="Retired index generations kept for an instant rollback.",
)
@click.option(
    "--golden-queries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Golden queries (YAML/JSON: queries with the docIds that answer them): a new index generation "
    "goes live only if its recall@k is within --max-recall-drop of the live one's.",
)
@click.option("--recall-k", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--max-recall-drop", type=click.FloatRange(0, 1), default=0.05, show_default=True)
@click.option(
    "--no-serve",
    is_flag=True,
    help="Ingest --docs (and reindex, after a model or chunking change), then exit instead of serving.",
)
@click.option(
    "--qdrant-engine",
    type=click.Choice(get_args(LocalEngine)),
    default=DEFAULT_LOCAL_ENGINE,
    show_default=True,
    help="Qdrant's engine: edge (Qdrant's own, in this process) or python (qdrant-client's local mode).",
)
@click.option(
    "--approve",
    type=click.IntRange(1),
    metavar="GENERATION",
    help="Approve the cutover to the building GENERATION (a Manual cutover, or one the golden queries "
    "refused): what `faro generations approve` does through a running API.",
)
def local(
    data_dir: Path,
    host: str,
    port: int,
    keys_file: Path | None,
    embedder: str,
    docs: tuple[Path, ...],
    strategy: str,
    semantic_percentile: int,
    chunk_size: int,
    chunk_overlap: int,
    gateway_url: str | None,
    model: str | None,
    dimension: int | None,
    s3_path: bool,
    cutover: str,
    retain: int,
    golden_queries: Path | None,
    recall_k: int,
    max_recall_drop: float,
    no_serve: bool,
    qdrant_engine: str,
    approve: int | None,
) -> None:
    """Run the whole pipeline on this machine: embedded PostgreSQL, Qdrant in-process, HTTP API."""
    from faro_workloads.contract.settings import ChunkingConfig, FaroSettings, GenerationsConfig
    from faro_workloads.core.generation_plan import Action
    from faro_workloads.services import local as local_mode

    if golden_queries is not None:  # said now, not at a cutover minutes away (it is read again there)
        from faro_workloads.core.evaluation import load_golden_queries

        load_golden_queries(golden_queries)
    portkey = None
    if embedder == "portkey":
        base = FaroSettings().embedding.model_dump()
        overrides = {"kind": "portkey", "gateway_url": gateway_url, "model": model, "dimension": dimension}
        portkey = type(FaroSettings().embedding).model_validate(
            {**base, **{k: v for k, v in overrides.items() if v is not None}}
        )
    options = local_mode.LocalOptions(
        data_dir=data_dir,
        host=host,
        port=port,
        embedder=embedder,  # type: ignore[arg-type]
        chunking=ChunkingConfig(
            strategy=strategy,  # type: ignore[arg-type]
            size=chunk_size,
            overlap=chunk_overlap,
            semantic_percentile=semantic_percentile,
        ),
        portkey=portkey,
        s3=s3_path,
        keys_file=keys_file,
        qdrant_engine=qdrant_engine,  # type: ignore[arg-type]
        generations=GenerationsConfig(
            cutover=cutover.capitalize(),  # type: ignore[arg-type]
            retain=retain,
            golden_queries=golden_queries,
            recall_k=recall_k,
            max_recall_drop=max_recall_drop,
        ),
    )
    with local_mode.build(options) as runtime:
        if approve is not None:
            _approve(runtime.generations, approve)
        if docs:
            summary = runtime.ingest_folder(list(docs), show_progress=True)
            console.print(
                f"ingested: {summary.created} created, {summary.replaced} replaced, "
                f"{summary.unchanged} unchanged, {summary.accepted} accepted, {len(summary.failed)} failed"
            )
            for doc_id, reason in summary.failed:
                err_console.print(f"  [red]failed[/red] {doc_id}: {reason}")
            if summary.skipped:
                err_console.print(skipped_note(summary.skipped), soft_wrap=True)
        if runtime.plan.action is Action.ROLLBACK:
            console.print(f"rolled back: generation {runtime.plan.generation} is live")
        if no_serve:
            report = runtime.reindex(console)
            if report is not None:
                _print_reindex(report)
            if docs and summary.failed:
                sys.exit(1)  # as faro ingest: some documents were not stored
        else:
            console.print(f"Faro local API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
            runtime.serve()


def _approve(controller: GenerationController, generation: int) -> None:
    """Approve the cutover to ``generation``; exit 2 in one line when it is not building."""
    from faro_workloads.errors import InputError

    try:
        controller.approve_building(generation)
    except InputError as exc:
        err_console.print(f"error: {exc}", soft_wrap=True)
        sys.exit(2)
    console.print(f"generation {generation} approved: it goes live once it passes the gate")


def _print_reindex(report: StepReport) -> None:
    """What the reindex did, one line; a blocked cutover exits 1 (the live generation still serves), saying
    how to approve it where an approval would let it through."""
    if report.promoted is not None:
        console.print(f"generation {report.promoted} is live")
    elif report.blocked is not None:
        err_console.print(
            f"cutover blocked ({report.blocked.reason}): {report.blocked.message}", soft_wrap=True
        )
        if report.target is not None and report.blocked.reason in APPROVABLE:
            err_console.print(
                f"  to approve: run faro local again with --approve {report.target}, or "
                f"`faro generations approve {report.target}` against it while it serves",
                soft_wrap=True,
            )
        sys.exit(1)


@cli.command()
@click.argument("text")
@url_option
@api_key_option
@click.option("--top-k", type=click.IntRange(1, 1000), help="How many chunks (server default when absent).")
@click.option(
    "--backend", type=click.Choice(["auto", "qdrant", "postgres"]), default="auto", show_default=True
)
@click.option(
    "--mode",
    type=click.Choice(["dense", "lexical", "hybrid"]),
    help="By meaning, by words (BM25) or both (server default when absent).",
)
@click.option(
    "--per-document",
    type=click.IntRange(0, 100),
    help="At most this many chunks of one document (0: no limit; server default when absent).",
)
@click.option(
    "--neighbours",
    type=click.IntRange(0, 5),
    default=0,
    help="Also show the chunks up to this many places before and after each hit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
def query(
    text: str,
    url: str,
    api_key: str | None,
    top_k: int | None,
    backend: str,
    mode: str | None,
    per_document: int | None,
    neighbours: int,
    as_json: bool,
) -> None:
    """Ask a Faro API for the chunks that best answer TEXT."""
    from faro_workloads.client import FaroClient

    client = FaroClient(url, api_key)
    try:
        answer = client.query(text, top_k, backend, mode, per_document, neighbours)
    finally:
        client.close()
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    fallback = f", fallback: {answer['fallback_reason']}" if answer.get("fallback_reason") else ""
    table = Table(
        title=(
            f"{counted(len(answer['hits']), 'hit')} from {answer['backend']} ({answer.get('mode', 'dense')}) "
            f"in {answer['took_ms']} ms{fallback}"
        )
    )
    table.add_column("score", justify="right")
    table.add_column("document")
    table.add_column("text")
    for hit in answer["hits"]:
        section = hit["metadata"].get("section")
        where = f"{hit['doc_id']}#{hit['seq']}" + (f"\n[dim]{section}[/dim]" if section else "")
        snippet = _snippet(hit["text"], 240)
        before = [near for near in hit.get("neighbours", []) if near["seq"] < hit["seq"]]
        after = [near for near in hit.get("neighbours", []) if near["seq"] > hit["seq"]]
        if before or after:  # the hit in bold between the chunks around it, dimmed
            snippet = "\n".join(
                [*(f"[dim]{_snippet(near['text'], 120)}[/dim]" for near in before), f"[bold]{snippet}[/bold]"]
                + [f"[dim]{_snippet(near['text'], 120)}[/dim]" for near in after]
            )
        table.add_row(f"{hit['score']:.3f}", where, snippet)
    console.print(table)


def _snippet(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return escape(flat[:limit]) + ("…" if len(flat) > limit else "")


@cli.command("model-server")
@click.option("--embedder", type=click.Choice(["hash", "minilm"]), default="hash", show_default=True)
@click.option("--dimension", type=click.IntRange(1, 16000), help="hash only  [default: 384]")
@click.option("--model", help="Model name to serve (hash only)  [default: faro-hash-v1]")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True)
def model_server(embedder: str, dimension: int | None, model: str | None, host: str, port: int) -> None:
    """Serve a local embedding model as OpenAI's /v1/embeddings and Cohere's /v2/embed (what the Portkey
    gateway's cohere provider calls)."""
    import uvicorn

    from faro_workloads.core.embedding.hashing import HashingEmbedder
    from faro_workloads.core.embedding.model_server import build_model_server

    if embedder == "minilm":
        if dimension is not None or model is not None:
            raise click.UsageError(
                "--dimension and --model are the hashing model's: MiniLM is 384-d, its own name"
            )
        from faro_workloads.core.embedding.minilm import MiniLMEmbedder

        served = MiniLMEmbedder()
    else:
        served = HashingEmbedder(dimension=dimension or 384, model=model or "faro-hash-v1")
    uvicorn.run(build_model_server(served), host=host, port=port, log_level="info")
