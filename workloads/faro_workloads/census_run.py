"""The consistency job's censuses: which run (the pipeline's chunk objects when it has S3 settings; its
bucket source's documents when it has one), with what license to act, and how a failure of one is reported
without stopping the store check.

The chunk-objects census acts (requeues, deletes orphans) only with ``consistency.repair``; the bucket
source's — the full sync — whenever ``source_documents.sync`` is on (the default): its differences are not
drift to repair but the work of the sync.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import psycopg
from botocore.exceptions import BotoCoreError, ClientError

from faro_workloads.aws_resources import s3_client, sqs_client
from faro_workloads.census_source import CensusSource, NotificationRequeue
from faro_workloads.contract.settings import ConsistencyConfig, FaroSettings
from faro_workloads.core.census import EXAMPLES, CensusReport, CensusStore, take_census
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.source_documents import SourceLayout
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.core.stores.s3_sources import S3SourceDocuments
from faro_workloads.errors import ConfigurationError, DependencyUnavailable, one_line
from faro_workloads.services.stores import StoreAccess, StoreUnavailable, open_postgres

log = logging.getLogger(__name__)


def census_sources(settings: FaroSettings, *, chunk_objects: bool = True) -> list[CensusSource]:
    """What the job counts, from ``settings`` (nothing without S3 settings or with the census off)."""
    config = settings.consistency
    if settings.s3 is None or not config.census:
        return []
    s3 = s3_client(settings.s3)
    sqs = sqs_client(settings.sqs) if settings.sqs is not None else None
    queue = settings.sqs.queue_url if settings.sqs is not None else ""
    sources = []
    if chunk_objects:
        store = S3ChunkStore(s3, settings.s3.bucket, ChunkObjectLayout(settings.s3.prefix, settings.pipeline))
        requeue = NotificationRequeue(sqs, queue, store.bucket) if sqs is not None and config.repair else None
        sources.append(CensusSource.chunk_objects(store, requeue))
    if settings.source_documents is not None:
        layout = SourceLayout.of(settings.source_documents, settings.s3.bucket)
        documents = S3SourceDocuments(s3, layout, settings.ingest.max_body_bytes)
        acting = sqs is not None and settings.source_documents.sync
        sources.append(
            CensusSource.bucket_source(
                documents, NotificationRequeue(sqs, queue, layout.bucket) if acting else None
            )
        )
    return sources


def take_censuses(
    pg: CensusStore, sources: Sequence[CensusSource], started_at: datetime, config: ConsistencyConfig
) -> tuple[list[CensusReport], str | None]:
    """Each census in turn; one that cannot list or notify is skipped with the reason (the first one is
    returned), the others still run."""
    reports, error = [], None
    for source in sources:
        try:
            reports.append(
                take_census(
                    source.listing(),
                    pg,
                    started_at,
                    scope=source.scope,
                    grace_seconds=config.census_grace_seconds,
                    requeue_timeout_seconds=config.requeue_timeout_seconds,
                    max_orphan_deletes=config.max_orphan_deletes,
                    requeue=source.requeue,
                )
            )
        except (BotoCoreError, ClientError, DependencyUnavailable) as exc:
            message = (
                f"{source.scope.name} census not taken: cannot list or notify through S3/SQS: {one_line(exc)}"
            )
            log.error("%s", message)
            error = error or message
    return reports, error


def with_qdrant_gaps(
    reports: Sequence[CensusReport], pg: CensusStore, missing_points: Sequence[uuid.UUID]
) -> None:
    """Fill in each census's documents with points Qdrant lacks (``missing_points``, from the store check):
    a bucket source's documents go to its census, the others to the chunk objects'."""
    if not reports:
        return
    documents = pg.documents_of_points(missing_points) if missing_points else {}
    for report in reports:
        mine = sorted(doc_id for doc_id, source in documents.items() if report.scope.owns(source))
        report.missing_in_qdrant = len(mine)
        report.examples["missing_in_qdrant"] = mine[:EXAMPLES]


def run_sync(settings: FaroSettings, dry_run: bool) -> CensusReport:
    """The bucket source's full sync, alone (``faro sync``): list the source, ingest what PostgreSQL lacks
    or holds in another version (through the embedding engine), delete what is gone; with ``dry_run`` only
    count. Stateless, so resumable: a run killed midway is finished by the next, which resends only what the
    killed one had not recorded as sent (at most one page).

    Raises ConfigurationError without a bucket source, StoreUnavailable when a store cannot be reached.
    """
    missing = [
        variable
        for variable, section in (
            ("FARO_S3__BUCKET", settings.s3),
            ("FARO_SQS__QUEUE_URL", settings.sqs),
            ("FARO_SOURCE_DOCUMENTS__PREFIX", settings.source_documents),
        )
        if section is None
    ]
    if missing:
        raise ConfigurationError(f"faro sync needs a bucket source: set {', '.join(missing)}")
    if dry_run:
        settings = settings.model_copy(
            update={"source_documents": settings.source_documents.model_copy(update={"sync": False})}
        )
    settings = settings.model_copy(
        update={"consistency": settings.consistency.model_copy(update={"census": True})}
    )
    (source,) = census_sources(settings, chunk_objects=False)
    store = open_postgres(settings.postgres, settings.collection, StoreAccess.AUDIT)
    try:
        pg = store.for_generation(store.live_generation())  # deletes remove the live generation's chunks
        reports, error = take_censuses(pg, [source], datetime.now(UTC), settings.consistency)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot read PostgreSQL: {one_line(exc)}") from exc
    finally:
        store.close()
    if error:
        raise StoreUnavailable(error)
    return reports[0]
