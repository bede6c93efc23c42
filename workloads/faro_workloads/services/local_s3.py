"""``faro local --s3``: the cluster's data path on loopback. A local S3/SQS server, the chunking backend
writing chunk objects, and the embedding engine's worker consuming the bucket's notifications.

The local server keeps its state in memory, so the bucket is made durable instead: writes go through a
:class:`~faro_workloads.durable_local_bucket.DurableBucket` under the data dir before the API answers, and
at start the fresh bucket is refilled from it, which replays every object's notification (the worker skips
what PostgreSQL already holds, embeds what a crash lost, and applies acknowledged deletes again).
"""

from __future__ import annotations

import logging
import threading

from faro_workloads.api.app import ReadinessCheck
from faro_workloads.api.documents import DocumentBackend
from faro_workloads.aws_resources import (
    MotoServer,
    provision_pipeline_resources,
    s3_client,
    sqs_client,
    use_local_credentials,
)
from faro_workloads.background_server import free_port
from faro_workloads.contract.settings import S3Config, SQSConfig
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.ingest import IngestService
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.durable_local_bucket import CorruptStoredObject, DurableBucket, WriteThroughS3Client
from faro_workloads.embedder_worker import EmbedderWorker
from faro_workloads.services.chunker import S3ChunkingBackend
from faro_workloads.services.local_options import (
    BUCKET_FOLDER,
    LOCAL_PIPELINE,
    MOTO_PID_FILE,
    LocalModeError,
    LocalOptions,
)
from faro_workloads.services.resources import Resources

log = logging.getLogger(__name__)

WORKER_STOP_SECONDS = 30


def start_s3_path(
    options: LocalOptions, ingest: IngestService, pg: PgVectorStore, chunker: Chunker, resources: Resources
) -> tuple[DocumentBackend, dict[str, ReadinessCheck]]:
    """Start the server and the worker (both added to ``resources``); return the documents backend that
    writes chunk objects cut by ``chunker`` (documents' states read from ``pg`` too), and its readiness
    check."""
    use_local_credentials()
    data_dir = options.data_dir
    moto = MotoServer(free_port(), log_path=data_dir / "s3-server.log", pid_file=data_dir / MOTO_PID_FILE)
    resources.add_closer("local S3/SQS server", moto.stop)
    moto.start()
    s3_config = S3Config(bucket="faro-local", prefix="faro", endpoint_url=moto.url)
    layout = ChunkObjectLayout(s3_config.prefix, LOCAL_PIPELINE)
    provisional = SQSConfig(queue_url="pending", endpoint_url=moto.url)
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
    store = S3ChunkStore(WriteThroughS3Client(s3, s3_config.bucket, durable), s3_config.bucket, layout)
    _start_worker(EmbedderWorker(sqs, store, ingest, sqs_config, failures=pg), resources)
    backend = S3ChunkingBackend(chunker.prepare(), store, LOCAL_PIPELINE, evidence=pg)
    return backend, {"s3": store.healthy}


def _start_worker(worker: EmbedderWorker, resources: Resources) -> None:
    """Run ``worker`` on a thread until the resources are closed."""
    thread = threading.Thread(target=worker.run, name="embedder-worker", daemon=True)
    thread.start()

    def stop() -> None:
        worker.stop()
        thread.join(timeout=WORKER_STOP_SECONDS)

    resources.add_closer("embedder worker", stop)
