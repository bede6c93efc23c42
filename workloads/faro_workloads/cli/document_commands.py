"""Documents through a Faro API: ``faro ingest [--wait]`` uploads them, ``faro status`` tells where each
stands (accepted, embedded, searchable, failed with its reason, deleting, deleted)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.table import Table

from faro_workloads.cli import api_key_option, cli, url_option
from faro_workloads.client import APIUnavailable, FaroAPIError, FaroClient, RequestRejected
from faro_workloads.core.document_state import SETTLED, DocumentState
from faro_workloads.errors import InputError

console = Console(stderr=False)
err_console = Console(stderr=True)

UNKNOWN = "unknown"
"""What ``faro status`` prints for a document the API has never heard of."""
POLL_SECONDS = (0.5, 1.0, 2.0, 5.0)
"""Pauses between the rounds of ``--wait`` (the last one repeats)."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@url_option
@api_key_option
@click.option("--wait", is_flag=True, help="Return when every uploaded document is searchable (or failed).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="Longest --wait, in seconds.",
)
def ingest(paths: tuple[Path, ...], url: str, api_key: str | None, wait: bool, timeout: float) -> None:
    """Upload documents (files, or folders of .md/.txt/.html) to a Faro API.

    A document is named by its path below the folder given, or by its file name; a second file with a name
    already taken is not sent. Exit code 1 when an upload was refused (or not sent) or, with --wait, when a
    document failed or was not searchable within the timeout; 2 at once when the API refuses the key.
    """
    from rich.progress import Progress

    from faro_workloads.document_files import READ_SUFFIXES, find_document_files, skipped_note

    skipped: list[Path] = []
    files = find_document_files(list(paths), skipped)
    if skipped:
        err_console.print(skipped_note(skipped), soft_wrap=True)
    if not files:
        raise InputError(f"no documents found (looked for {READ_SUFFIXES})")
    client = FaroClient(url, api_key)
    failures = 0
    statuses: Counter[str] = Counter()
    uploaded: list[str] = []
    named: dict[str, Path] = {}  # doc_id -> the file that got it
    try:
        with Progress(console=err_console) as progress:
            task = progress.add_task("uploading", total=len(files))
            for item in files:
                first = named.setdefault(item.doc_id, item.path)
                if first != item.path:  # it would replace the first file's document: not sent
                    failures += 1
                    progress.console.print(
                        f"[red]failed[/red] {item.path}: document {item.doc_id!r} given twice (also {first})",
                        soft_wrap=True,
                    )
                    progress.advance(task)
                    continue
                try:
                    result = client.upload_file(item.path, item.doc_id)
                    statuses[result["status"]] += 1
                    uploaded.append(result["doc_id"])
                except FaroAPIError as exc:
                    if isinstance(exc, RequestRejected) and exc.refuses_the_caller:
                        raise  # the same for every document: one line, exit 2 (nothing else is sent)
                    failures += 1
                    progress.console.print(f"[red]failed[/red] {item.path}: {exc}")
                progress.advance(task)
        console.print(
            ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "nothing stored",
            f"{failures} failed" if failures else "",
        )
        if wait and uploaded:
            failures += _wait_until_settled(client, uploaded, timeout)
    finally:
        client.close()
    if failures:
        sys.exit(1)


def _wait_until_settled(client: FaroClient, doc_ids: list[str], timeout: float) -> int:
    """Poll the documents until each is searchable or failed; print the outcome. Returns how many did not
    become searchable (failed, or still on their way at the timeout)."""
    from rich.progress import Progress

    pending = dict.fromkeys(doc_ids, DocumentState.ACCEPTED.value)
    settled: dict[str, dict[str, Any]] = {}
    unavailable = ""
    deadline = time.monotonic() + timeout
    with Progress(console=err_console) as progress:
        task = progress.add_task("waiting until searchable", total=len(doc_ids))
        for round_ in range(sys.maxsize):
            for doc_id in list(pending):
                try:
                    document = client.document(doc_id)
                except (
                    APIUnavailable,
                    httpx.TransportError,
                ) as exc:  # a restart, a store down a moment: ask again
                    unavailable = str(exc)
                    break
                state = document["state"] if document is not None else UNKNOWN
                pending[doc_id] = state
                if state in SETTLED:
                    settled[doc_id] = document or {}
                    del pending[doc_id]
                    progress.advance(task)
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(min(POLL_SECONDS[min(round_, len(POLL_SECONDS) - 1)], deadline - time.monotonic()))
    failed = {doc_id: d for doc_id, d in settled.items() if d.get("state") != DocumentState.SEARCHABLE}
    for doc_id, document in sorted(failed.items()):
        err_console.print(
            f"[red]{document.get('state')}[/red] {doc_id}: {document.get('reason') or ''}", soft_wrap=True
        )
    console.print(f"{len(settled) - len(failed)} searchable" + (f", {len(failed)} failed" if failed else ""))
    if pending:
        waiting = ", ".join(f"{n} {s}" for s, n in sorted(Counter(pending.values()).items()))
        last_error = f"; last error: {unavailable}" if unavailable else ""
        err_console.print(
            f"timed out after {timeout:g} s: {len(pending)} not searchable yet ({waiting}){last_error}",
            soft_wrap=True,
        )
    return len(failed) + len(pending)


@cli.command()
@click.argument("doc_ids", nargs=-1, required=True)
@url_option
@api_key_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per document.")
def status(doc_ids: tuple[str, ...], url: str, api_key: str | None, as_json: bool) -> None:
    """Where each document stands: accepted (queued), embedded (in PostgreSQL, its Qdrant write queued),
    searchable (in both stores), failed (with the reason), deleting or deleted.

    Exit code 1 when a document failed or the API has never heard of it.
    """
    client = FaroClient(url, api_key)
    try:
        documents = {doc_id: client.document(doc_id) for doc_id in dict.fromkeys(doc_ids)}
    finally:
        client.close()
    if as_json:
        for doc_id, document in documents.items():
            click.echo(json.dumps(document or {"doc_id": doc_id, "state": UNKNOWN}))
    else:
        _print_states(documents)
    if any(d is None or d["state"] == DocumentState.FAILED for d in documents.values()):
        sys.exit(1)


def _print_states(documents: dict[str, dict[str, Any] | None]) -> None:
    table = Table()
    for column in ("document", "state", "chunks", "since", "reason"):
        table.add_column(column)
    colours = {DocumentState.SEARCHABLE: "green", DocumentState.FAILED: "red", UNKNOWN: "red"}
    for doc_id, found in documents.items():
        document = found or {"state": UNKNOWN}
        state = document["state"]
        chunks = document.get("chunks")
        table.add_row(
            doc_id,
            f"[{colours.get(state, 'yellow')}]{state}[/]",
            "" if chunks is None else str(chunks),
            (document.get("updated_at") or "")[:19].replace("T", " "),
            document.get("reason") or ("never uploaded" if state == UNKNOWN else ""),
        )
    console.print(table)
