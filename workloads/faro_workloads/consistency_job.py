"""The consistency job: what a RagPipeline's CronJob runs as ``faro consistency``.

One run compares PostgreSQL (the source of truth) with Qdrant for the configured collection
(:func:`~faro_workloads.core.consistency.check_consistency`); with repair on, it realigns Qdrant from
Postgres (:func:`~faro_workloads.core.repair.repair_qdrant`) and checks again. The outcome, a
:class:`~faro_workloads.consistency_result.JobResult`, is published three ways:

- one JSON document on stdout (:func:`~faro_workloads.consistency_result.result_document`; the caller
  prints it);
- gauges pushed to a Prometheus Pushgateway when ``consistency.pushgateway_url`` is set, and
- ``status.consistency`` of the owning RagPipeline when running inside Kubernetes (both:
  :mod:`faro_workloads.consistency_publication`).

:func:`run_consistency` is the core (already-open stores in, result out); :func:`run_job` opens the stores
read-only from :class:`FaroSettings` (:func:`~faro_workloads.services.stores.open_stores` with
``StoreAccess.AUDIT``), runs the core and publishes. Exit codes: see
:class:`~faro_workloads.consistency_result.ExitCode`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import httpx
import psycopg
from pydantic import ValidationError
from qdrant_client.http.exceptions import ApiException as QdrantApiException

from faro_workloads.census_run import census_sources, take_censuses, with_qdrant_gaps
from faro_workloads.census_source import CensusSource
from faro_workloads.consistency_publication import (
    JOB_NAME,
    Publication,
    in_cluster,
    metrics_registry,
    publish,
    push_metrics,
    status_patch,
    write_status,
)
from faro_workloads.consistency_result import ID_LIMIT, ExitCode, JobResult, Outcome, result_document, rfc3339
from faro_workloads.contract.settings import ConsistencyConfig, FaroSettings
from faro_workloads.core.census import CensusStore
from faro_workloads.core.consistency import check_consistency
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.stores.ports import AuditedReplica, AuditedSource
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.errors import ConfigurationError, first_problem, invalid_configuration, one_line
from faro_workloads.services.stores import StoreAccess, StoreUnavailable, open_stores, require_lasting_qdrant

__all__ = [  # the job's parts, importable from here as before the split
    "ID_LIMIT",
    "JOB_NAME",
    "ConfigurationError",
    "ExitCode",
    "JobOutcome",
    "JobResult",
    "Outcome",
    "Publication",
    "StoreUnavailable",
    "consistency_config",
    "in_cluster",
    "load_settings",
    "metrics_registry",
    "publish",
    "push_metrics",
    "result_document",
    "rfc3339",
    "run_consistency",
    "run_job",
    "status_patch",
    "write_status",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What :func:`run_job` hands back: the result, the JSON document to print and the exit code."""

    result: JobResult
    document: dict[str, Any]
    exit_code: ExitCode
    publications: dict[str, Publication] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- core


class CensusedSource(AuditedSource, CensusStore, Protocol):
    """PostgreSQL as the job with a census reads it."""


def run_consistency(
    pg: AuditedSource,
    qdrant: AuditedReplica,
    config: ConsistencyConfig,
    censuses: Sequence[CensusSource] = (),
) -> JobResult:
    """Check the two open stores; with ``config.repair``, repair Qdrant from Postgres and check again.

    With ``censuses`` (:mod:`faro_workloads.census_run`), the acknowledged documents are counted against
    PostgreSQL first (a census that acts sends what PostgreSQL lacks back to the embedding engine and deletes
    orphans, whose points the Qdrant repair then removes), and the documents with points Qdrant lacks after
    the check are added to them.

    Raises whatever the stores raise when they cannot be reached (see :func:`run_job` for the translation).
    """
    started_at = datetime.now(UTC)
    start = time.monotonic()
    counted, census_error = take_censuses(cast(CensusedSource, pg), censuses, started_at, config)
    before = check_consistency(pg, qdrant, sample_size=config.sample_size, k=config.k)
    repair = after = None
    if config.repair:
        repair = repair_qdrant(pg, qdrant)
        after = check_consistency(pg, qdrant, sample_size=config.sample_size, k=config.k)
    with_qdrant_gaps(counted, cast(CensusedSource, pg), (after or before).missing_ids)
    return JobResult(
        before=before,
        repair=repair,
        after=after,
        min_overlap=config.min_overlap,
        started_at=started_at,
        duration_seconds=time.monotonic() - start,
        censuses=tuple(counted),
        census_error=census_error,
    )


# --------------------------------------------------------------------------------------------- the job


def consistency_config(base: ConsistencyConfig, **overrides: Any) -> ConsistencyConfig:
    """``base`` with the non-None ``overrides`` (command-line options) applied and validated.

    Raises :class:`ConfigurationError` naming the bad field.
    """
    changes = {key: value for key, value in overrides.items() if value is not None}
    try:
        return ConsistencyConfig.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        raise ConfigurationError(
            f"invalid configuration: {first_problem(exc, within=('consistency',))}"
        ) from None


def load_settings(needs_qdrant: bool = True) -> FaroSettings:
    """The FARO_* settings, checked for what this job needs (``faro sync`` needs no Qdrant). Raises
    :class:`ConfigurationError`."""
    try:
        settings = FaroSettings()
    except ValidationError as exc:
        raise ConfigurationError(invalid_configuration(exc)) from None
    except ValueError as exc:  # e.g. a nested section given as malformed JSON
        raise ConfigurationError(f"invalid configuration: {one_line(exc)}") from None
    if needs_qdrant:
        require_lasting_qdrant(settings.qdrant, reads=True)
    return settings


def _live_generation(pg: PgVectorStore, qdrant: QdrantStore) -> tuple[PgVectorStore, QdrantStore]:
    """The live index generation's stores (the first generation's while none is registered)."""
    live = pg.live_generation()
    if live == pg.generation:
        return pg, qdrant
    return pg.for_generation(live), qdrant.for_generation(live)


def _checked_run(
    pg: AuditedSource,
    qdrant: AuditedReplica,
    config: ConsistencyConfig,
    qdrant_location: str,
    censuses: Sequence[CensusSource],
) -> JobResult:
    """:func:`run_consistency`, with store failures turned into :class:`StoreUnavailable`."""
    try:
        return run_consistency(pg, qdrant, config, censuses)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot read PostgreSQL: {one_line(exc)}") from exc
    except (QdrantApiException, httpx.HTTPError, OSError) as exc:
        raise StoreUnavailable(f"cannot read Qdrant at {qdrant_location}: {one_line(exc)}") from exc


def run_job(
    settings: FaroSettings,
    config: ConsistencyConfig | None = None,
    *,
    id_limit: int = ID_LIMIT,
    environ: Mapping[str, str] | None = None,
) -> JobOutcome:
    """Open the stores from ``settings``, run the check (and repair), publish, and close the stores.

    ``config`` overrides ``settings.consistency`` (the command-line options). The exit code is DRIFT when
    the stores disagree, else UNAVAILABLE when a configured publication failed, else OK. Raises
    :class:`StoreUnavailable` when a store cannot be reached (nothing is published then).
    """
    config = config or settings.consistency
    settings = settings.model_copy(update={"consistency": config})
    location = settings.qdrant.url or str(settings.qdrant.path)
    censuses = census_sources(settings)
    with open_stores(
        settings.postgres, settings.qdrant, settings.collection, StoreAccess.AUDIT, settings.hnsw
    ) as stores:
        pg, qdrant = _live_generation(stores.pg, stores.qdrant)
        result = _checked_run(pg, qdrant, config, location, censuses)
        try:
            pruned = stores.pg.prune_deleted_marks(config.deleted_marks_retention_days * 86_400)
            if pruned:
                log.info("pruned %d deleted-document marks", pruned)
        except psycopg.Error as exc:  # a housekeeping miss is no reason to fail the check
            log.warning("could not prune deleted-document marks: %s", one_line(exc))
    publications = publish(result, settings, environ)
    document = result_document(
        result, pipeline=settings.pipeline, collection=settings.collection.name, id_limit=id_limit
    )
    document["published"] = {target: p.to_dict() for target, p in publications.items()}
    exit_code = result.exit_code
    if exit_code is ExitCode.OK and any(p.state == "failed" for p in publications.values()):
        exit_code = ExitCode.UNAVAILABLE
    document["exit_code"] = int(exit_code)
    return JobOutcome(result, document, exit_code, publications)
