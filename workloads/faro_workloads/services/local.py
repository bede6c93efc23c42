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

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faro_workloads.api.app import ReadinessCheck
from faro_workloads.api.auth import access_check
from faro_workloads.api.documents import DocumentBackend
from faro_workloads.background_server import GracefulServer, uvicorn_config
from faro_workloads.contract.settings import (
    CollectionConfig,
    IngestConfig,
    PostgresConfig,
    QdrantConfig,
)
from faro_workloads.core.generation_control import GenerationController, StepReport
from faro_workloads.core.generation_plan import GenerationPlan
from faro_workloads.core.ingest import IncomingDocument, IngestResult
from faro_workloads.core.live_generation import LiveDocuments
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.stores.local_engines import discard_other_engine
from faro_workloads.core.text_extraction import UnsupportedDocument, detect_format, extract_document
from faro_workloads.data_plane import DataPlane
from faro_workloads.document_files import find_document_files
from faro_workloads.embedded_postgres import start_embedded_postgres
from faro_workloads.services.data_dir_lock import DataDirLock
from faro_workloads.services.local_models import build_local_embedder, check_dimension, local_embedder_factory
from faro_workloads.services.local_options import (
    LOCAL_PIPELINE,
    MAX_BODY_BYTES,
    EmbedderChoice,
    LocalModeError,
    LocalOptions,
    local_access,
)
from faro_workloads.services.local_reindex import reindex
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
    skipped: list[Path] = field(default_factory=list)
    """Files of other types below the folders (not read)."""


def build(options: LocalOptions) -> LocalRuntime:
    """Start local mode's stores and services; the runtime closes them (use it as a context manager).

    A previous run's outbox is drained first, and each generation's Qdrant collection is rebuilt from
    PostgreSQL when their counts differ (e.g. the qdrant folder was deleted, or the engine switched).
    """
    options.data_dir.mkdir(parents=True, exist_ok=True)
    resources = Resources()
    with resources.closed_on_error():
        resources.add(DataDirLock(options.data_dir).acquire())
        embedder = resources.add(build_local_embedder(options, resources))
        check_dimension(options, embedder)
        stores = resources.add(_open_embedded_stores(options, embedder.dimension, resources))
        plane = resources.add(
            DataPlane(
                stores.pg,
                stores.qdrant,
                embedder,
                chunking=options.chunking,
                query=options.query,
                ingest=IngestConfig(max_body_bytes=MAX_BODY_BYTES),
                generations=options.generations,
                build_embedder=local_embedder_factory(options, resources),
            )
        )
        path = plane.ingest_path
        path.runtime.chunker.prepare()  # uploads are cut in requests: not the first one's to wait for NLTK
        assert path.worker is not None
        # The first generation registered, a new one building, or a retired one live again.
        plan = path.worker.controller.reconcile()
        path.live.refresh()
        path.drain()  # anything a previous run left in the outbox
        _realign_qdrant(stores)
        plane.start_drainer()
        documents: DocumentBackend = plane.ingest
        readiness: dict[str, ReadinessCheck] = {}
        if options.s3:
            documents, readiness = start_s3_path(
                options, plane.ingest, stores.pg, path.runtime.chunker, resources
            )
        access = access_check(local_access(options), "local API", LOCAL_PIPELINE)
        app = plane.api(title="Faro (local mode)", documents=documents, readiness=readiness, access=access)
    return LocalRuntime(options, plane, app, documents, resources, plan)


def _realign_qdrant(stores: Stores) -> None:
    """Rebuild, from PostgreSQL, the Qdrant collection of every generation PostgreSQL holds (live, building,
    retained for a rollback) whose point count differs from its chunks'."""
    for generation in stores.pg.generations():
        pg, qdrant = stores.pg.for_generation(generation.id), stores.qdrant.for_generation(generation.id)
        if qdrant.exists() and qdrant.count() == pg.count():
            continue
        report = repair_qdrant(pg, qdrant)
        log.info("qdrant realigned from postgres (generation %d): %s", generation.id, report.to_dict())


def _open_embedded_stores(options: LocalOptions, dimension: int, resources: Resources) -> Stores:
    """An embedded PostgreSQL (added to ``resources``) and Qdrant local mode on ``options.qdrant_engine``,
    both under ``options.data_dir``."""
    pg_server = start_embedded_postgres(options.data_dir / "postgres")
    resources.add_closer("embedded PostgreSQL", pg_server.cleanup)
    discard_other_engine(options.data_dir / "qdrant", options.qdrant_engine)
    return open_stores(
        PostgresConfig(dsn=SecretStr(pg_server.get_uri())),
        QdrantConfig(path=str(options.data_dir / "qdrant"), local_engine=options.qdrant_engine),
        CollectionConfig(name="default", dimension=dimension),
        StoreAccess.LOCAL,
    )


@dataclass
class LocalRuntime(Service):
    """Local mode's data plane and API, as :func:`build` started them."""

    options: LocalOptions
    plane: DataPlane
    app: FastAPI
    documents: DocumentBackend  # the data plane's ingest, or the S3 path's chunking backend (--s3)
    resources: Resources
    plan: GenerationPlan
    """What starting did about the index generations (rolled back, started building one...)."""

    def ingest_folder(self, paths: list[Path], show_progress: bool = True) -> FolderIngestSummary:
        """Ingest every document below ``paths`` in-process, with a progress bar.

        Files are read one by one and stored in batches (:meth:`IngestService.ingest_many`); a file that
        cannot be read or ingested (or that the API would refuse as too large) is reported with its error
        and the others go on.
        """
        skipped: list[Path] = []
        files = find_document_files(paths, skipped)
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
                        if item.path.stat().st_size > MAX_BODY_BYTES:  # what the API would refuse (413)
                            raise ValueError(f"larger than the upload limit ({MAX_BODY_BYTES // 2**20} MiB)")
                        fmt = detect_format(item.path.name, None)
                        extracted = extract_document(item.path.read_bytes(), fmt)
                    except (UnsupportedDocument, OSError, ValueError) as exc:
                        fail(item.doc_id, exc)
                        continue
                    yield IncomingDocument(
                        doc_id=item.doc_id,
                        text=extracted.text,
                        source=f"file:{item.path}",
                        fmt=fmt,
                        metadata=extracted.metadata_with_title({}),
                    )

            for result in self._ingest_all(read(), lambda document, exc: fail(document.doc_id, exc)):
                counts[result.status] += 1
                progress.advance(task)
        return FolderIngestSummary(
            counts["created"], counts["replaced"], counts["unchanged"], counts["accepted"], failed, skipped
        )

    def _ingest_all(
        self, documents: Iterator[IncomingDocument], on_error: Callable[[IncomingDocument, ValueError], None]
    ) -> Iterator[IngestResult]:
        """Batched through the in-process ingest service; one by one into the S3 path (``--s3``)."""
        if isinstance(self.documents, LiveDocuments):
            yield from self.documents.ingest_many(documents, on_error=on_error)
            return
        for document in documents:
            try:
                yield self.documents.ingest(document)
            except ValueError as exc:  # UnsupportedDocument, a bad doc_id
                on_error(document, exc)

    @property
    def generations(self) -> GenerationController:
        worker = self.plane.ingest_path.worker
        assert worker is not None  # local mode always runs generations
        return worker.controller

    def reindex(self, console: Console, show_progress: bool = True) -> StepReport | None:
        """When the wanted profile is not the live one: build its generation and cut over (or roll back to
        it) in the foreground, with a progress bar; None when there was nothing to do."""
        controller = self.generations
        live = controller.live()
        if (
            controller.building() is None
            and live is not None
            and live.fingerprint == controller.wanted.fingerprint
        ):
            return None
        return reindex(controller, console, show_progress)

    def serve(self) -> None:
        """Serve the API until SIGINT/SIGTERM; a new generation, if one is wanted, is built meanwhile and
        made live once complete, while the live one answers."""
        self.plane.ingest_path.start_generations()
        GracefulServer(uvicorn_config(self.app, self.options.host, self.options.port)).run()
