"""What one consistency run found (:class:`JobResult`), its verdict and exit code, and its JSON document.

Produced by :func:`faro_workloads.consistency_job.run_consistency`; published by
:mod:`faro_workloads.consistency_publication`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from faro_workloads.contract.status import ConsistencyOutcome
from faro_workloads.core.census import CensusReport
from faro_workloads.core.consistency import ConsistencyReport
from faro_workloads.core.repair import RepairReport
from faro_workloads.errors import EXIT_FAILED, EXIT_INPUT, EXIT_UNAVAILABLE

ID_LIMIT = 100
"""Missing/orphan ids listed in the JSON document (the totals are always given)."""

Outcome = ConsistencyOutcome
"""``status.consistency.result``: Consistent, Repaired or Drift (the contract's enum)."""


class ExitCode(IntEnum):
    """The job's exit codes, the CLI's codes (:mod:`faro_workloads.errors`) with the job's meanings. DRIFT
    wins over UNAVAILABLE when both apply (the check is the verdict)."""

    OK = 0
    """overlap@k >= min_overlap and no missing or orphan ids (after repair, when repair ran)."""
    DRIFT = EXIT_FAILED
    """Overlap below the minimum or ids still differ."""
    CONFIGURATION = EXIT_INPUT
    """The FARO_* settings or the command's options are invalid."""
    UNAVAILABLE = EXIT_UNAVAILABLE
    """A store could not be reached (nothing checked, nothing published), or the stores agree but the
    Pushgateway push or the RagPipeline status write failed."""


@dataclass(frozen=True, slots=True)
class JobResult:
    """One run: the check, the repair and the check after it (both None unless repair ran), the threshold,
    when the run started (UTC) and how long it took."""

    before: ConsistencyReport
    repair: RepairReport | None
    after: ConsistencyReport | None
    min_overlap: float
    started_at: datetime
    duration_seconds: float
    censuses: tuple[CensusReport, ...] = ()
    """The acknowledged documents counted against the stores: the chunk objects' census and the bucket
    source's (none without S3 settings)."""
    census_error: str | None = None
    """Why a census could not be taken (S3 or SQS unreachable or refusing): the run exits UNAVAILABLE."""

    def census_of(self, scope: str) -> CensusReport | None:
        return next((report for report in self.censuses if report.scope.name == scope), None)

    @property
    def census(self) -> CensusReport | None:
        """The chunk objects' census."""
        return self.census_of("chunk_objects")

    @property
    def source_sync(self) -> CensusReport | None:
        """The bucket source's census (the full sync)."""
        return self.census_of("source")

    @property
    def final(self) -> ConsistencyReport:
        """The state the stores are left in: the check after repair, else the only check."""
        return self.after or self.before

    @property
    def problems(self) -> list[str]:
        """Why the final state is not acceptable, one readable phrase each (empty when it is)."""
        final, problems = self.final, []
        if final.overlap_at_k < self.min_overlap:
            problems.append(f"overlap@{final.k} {final.overlap_at_k:.4f} is below {self.min_overlap}")
        if final.missing_ids:
            problems.append(f"{len(final.missing_ids)} points missing from qdrant")
        if final.orphan_ids:
            problems.append(f"{len(final.orphan_ids)} orphan points in qdrant")
        for census in self.censuses:
            problems += [f"{census.scope.name}: {problem}" for problem in census.problems]
        return problems

    @property
    def ok(self) -> bool:
        """Whether the final state is acceptable."""
        return not self.problems

    @property
    def repaired_points(self) -> int:
        """Points the repair upserted or deleted (0 when repair did not run)."""
        return self.repair.upserted + self.repair.deleted if self.repair else 0

    @property
    def outcome(self) -> Outcome:
        """Drift when not ok; Repaired when ok and the repair changed Qdrant; else Consistent."""
        if not self.ok:
            return Outcome.DRIFT
        census_repaired = any(census.repaired for census in self.censuses)
        return Outcome.REPAIRED if self.repaired_points or census_repaired else Outcome.CONSISTENT

    @property
    def exit_code(self) -> ExitCode:
        """DRIFT when not ok, else UNAVAILABLE when the census could not be taken, else OK (publishing
        failures are added by ``run_job``)."""
        if not self.ok:
            return ExitCode.DRIFT
        return ExitCode.UNAVAILABLE if self.census_error else ExitCode.OK


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with whole seconds (the format of Kubernetes ``metav1.Time``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _report_document(report: ConsistencyReport, id_limit: int) -> dict[str, Any]:
    return {
        "overlap_at_k": report.overlap_at_k,
        "k": report.k,
        "sampled": report.sampled,
        "postgres_count": report.postgres_count,
        "qdrant_count": report.qdrant_count,
        "outbox_pending": report.outbox_pending,
        "missing_count": len(report.missing_ids),
        "missing_ids": [str(i) for i in report.missing_ids[:id_limit]],
        "orphan_count": len(report.orphan_ids),
        "orphan_ids": [str(i) for i in report.orphan_ids[:id_limit]],
    }


def result_document(
    result: JobResult, *, pipeline: str, collection: str, id_limit: int = ID_LIMIT
) -> dict[str, Any]:
    """The JSON document of a run. Id lists hold at most ``id_limit`` ids (sorted); ``*_count`` the totals.

    ``verdict`` is "ok" or "drift", ``result`` the :class:`Outcome`, ``problems`` why the verdict is drift;
    ``before`` is the first check, ``repair`` and ``after`` are null unless repair ran.
    """
    return {
        "pipeline": pipeline,
        "collection": collection,
        "started_at": rfc3339(result.started_at),
        "duration_seconds": round(result.duration_seconds, 3),
        "min_overlap": result.min_overlap,
        "verdict": "ok" if result.ok else "drift",
        "result": result.outcome.value,
        "problems": result.problems,
        "before": _report_document(result.before, id_limit),
        "repair": result.repair.to_dict() if result.repair else None,
        "after": _report_document(result.after, id_limit) if result.after else None,
        "censuses": [census.to_dict() for census in result.censuses],
        "census_error": result.census_error,
    }
