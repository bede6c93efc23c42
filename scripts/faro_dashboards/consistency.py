"""The consistency dashboard: overlap between the stores, drift and repairs, the census, the job's runs."""

from __future__ import annotations

from faro_dashboards.model import (
    CONSISTENCY_STALE_SECONDS,
    DEFAULT_MIN_OVERLAP,
    SEL,
    DashboardSpec,
    PanelSpec,
    RowSpec,
    count_stat,
    dashed,
    t,
)

CONSISTENCY = DashboardSpec(
    stem="faro-consistency",
    uid="faro-consistency",
    title="Faro / Consistency",
    description="What the consistency job measured and repaired: overlap@k, missing and orphan points, "
    "repairs, and the census of acknowledged documents.",
    variable_metric="faro_consistency_last_run_timestamp_seconds",
    rows=(
        RowSpec(
            "Overlap",
            (
                PanelSpec(
                    "Overlap@k",
                    "Mean overlap@k of the two stores' top-k ids at each consistency run, per pipeline and "
                    "collection, with the configured minimum (dashed): below it the job fails and "
                    "FaroConsistencyOverlapLow fires. faro_consistency_overlap_ratio, "
                    "faro_consistency_min_overlap_ratio.",
                    (
                        t(
                            f"min by (pipeline, collection) (faro_consistency_overlap_ratio{{{SEL}}})",
                            "{{pipeline}}/{{collection}} overlap@k",
                        ),
                        t(
                            f"max by (pipeline, collection) (faro_consistency_min_overlap_ratio{{{SEL}}})",
                            "{{pipeline}}/{{collection}} minimum",
                        ),
                    ),
                    "percentunit",
                    width=16,
                    max=1,
                    thresholds=(("red", None), ("green", DEFAULT_MIN_OVERLAP)),
                    overrides=(dashed(".* minimum", "red"),),
                ),
                PanelSpec(
                    "Lowest overlap@k",
                    f"The lowest overlap@k of the selected pipelines' last runs; red below the default "
                    f"minimum ({DEFAULT_MIN_OVERLAP:.0%}). faro_consistency_overlap_ratio.",
                    (t(f"min(faro_consistency_overlap_ratio{{{SEL}}})", "overlap@k"),),
                    "percentunit",
                    kind="stat",
                    width=4,
                    max=1,
                    thresholds=(("red", None), ("green", DEFAULT_MIN_OVERLAP)),
                    decimals=1,
                ),
                count_stat(
                    "k",
                    "The k of overlap@k (the number of top results compared). faro_consistency_k.",
                    (t(f"max(faro_consistency_k{{{SEL}}})", "k"),),
                    width=4,
                ),
            ),
        ),
        RowSpec(
            "Drift and repairs",
            (
                PanelSpec(
                    "Missing and orphan points",
                    "Points in PostgreSQL but not in Qdrant (missing) and in Qdrant but not in PostgreSQL "
                    "(orphan), after repair when it ran. faro_consistency_missing_points, "
                    "faro_consistency_orphan_points.",
                    (
                        t(
                            f"sum by (pipeline, collection) (faro_consistency_missing_points{{{SEL}}})",
                            "{{pipeline}}/{{collection}} missing",
                        ),
                        t(
                            f"sum by (pipeline, collection) (faro_consistency_orphan_points{{{SEL}}})",
                            "{{pipeline}}/{{collection}} orphan",
                        ),
                    ),
                    "short",
                    thresholds=(("green", None), ("red", 1)),
                    decimals=0,
                ),
                PanelSpec(
                    "Points repaired",
                    "Qdrant points the last run's repair upserted or deleted (0 when repair did not run or "
                    "found nothing). faro_consistency_repaired_points.",
                    (
                        t(
                            "sum by (pipeline, collection, action) "
                            f"(faro_consistency_repaired_points{{{SEL}}})",
                            "{{pipeline}}/{{collection}} {{action}}",
                        ),
                    ),
                    "short",
                    decimals=0,
                ),
                PanelSpec(
                    "Outbox backlog at check",
                    "Qdrant operations waiting in the PostgreSQL outbox when the consistency job checked: a "
                    "backlog explains a temporary drift. faro_consistency_outbox_pending.",
                    (
                        t(
                            f"max by (pipeline, collection) (faro_consistency_outbox_pending{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "short",
                    decimals=0,
                ),
            ),
        ),
        RowSpec(
            "Census",
            (
                PanelSpec(
                    "Documents per gap",
                    "What the last census of each scope (chunk objects, the bucket source) found: "
                    "acknowledged documents that PostgreSQL lacks, documents with points Qdrant lacks, "
                    "failed (dead-lettered) documents and orphans (in PostgreSQL, acknowledged nowhere), "
                    "before it acted; in flight and unverified are not gaps. faro_census_gap_documents.",
                    (
                        t(
                            f"sum by (pipeline, scope, gap) (faro_census_gap_documents{{{SEL}}})",
                            "{{pipeline}} {{scope}} {{gap}}",
                        ),
                    ),
                    "short",
                    width=12,
                    decimals=0,
                ),
                PanelSpec(
                    "Acknowledged documents",
                    "Documents acknowledged at the last census: chunk objects in S3 (scope chunk_objects), "
                    "the bucket source's files (scope source). faro_census_acknowledged_documents.",
                    (
                        t(
                            f"sum by (pipeline, scope) (faro_census_acknowledged_documents{{{SEL}}})",
                            "{{pipeline}} {{scope}}",
                        ),
                    ),
                    "short",
                    width=6,
                    decimals=0,
                ),
                PanelSpec(
                    "Complete",
                    "1 when the last census left no gap (after its repair); alert FaroDocumentsIncomplete "
                    "when it stays 0 for two runs. faro_census_complete.",
                    (t(f"min(faro_census_complete{{{SEL}}})", "complete"),),
                    "short",
                    kind="stat",
                    width=6,
                    thresholds=(("red", None), ("green", 1)),
                    decimals=0,
                ),
            ),
        ),
        RowSpec(
            "Job runs",
            (
                PanelSpec(
                    "Time since last run",
                    "Time since the last consistency run started; orange after "
                    f"{CONSISTENCY_STALE_SECONDS} s "
                    f"(2 default schedules, alert FaroConsistencyJobNotRunning). "
                    f"faro_consistency_last_run_timestamp_seconds.",
                    (
                        t(
                            "time() - max by (pipeline, collection) "
                            f"(faro_consistency_last_run_timestamp_seconds{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "s",
                    kind="stat",
                    thresholds=(("green", None), ("orange", CONSISTENCY_STALE_SECONDS)),
                ),
                PanelSpec(
                    "Time since last consistent run",
                    "Time since the last run that left the stores consistent (after repair) started. "
                    "faro_consistency_last_success_timestamp_seconds.",
                    (
                        t(
                            "time() - max by (pipeline, collection) "
                            f"(faro_consistency_last_success_timestamp_seconds{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "s",
                    kind="stat",
                    thresholds=(("green", None), ("orange", CONSISTENCY_STALE_SECONDS)),
                ),
                PanelSpec(
                    "Run duration",
                    "Duration of each consistency run (check and repair). faro_consistency_duration_seconds.",
                    (
                        t(
                            f"max by (pipeline, collection) (faro_consistency_duration_seconds{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "s",
                ),
            ),
        ),
    ),
)
