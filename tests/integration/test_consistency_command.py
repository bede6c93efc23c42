"""The consistency job's command (`faro consistency`) end to end: exit codes, the JSON it prints, the metrics
it pushes, its one-line errors.

Real parts only: PostgreSQL + pgvector (pgserver), a qdrant-client local-mode folder (which the command opens
itself, so the test's own client is closed first), and the Debian ``prometheus-pushgateway`` on a free
127.0.0.1 port (the ``pushgateway`` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from faro_workloads.background_server import free_port
from faro_workloads.contract.settings import (
    CollectionConfig,
    QdrantConfig,
)
from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

from support.consistency_job import (
    NAMESPACE,
    PIPELINE,
    POINTS,
    K,
    assert_grouped,
    scrape,
    seed,
)

pytestmark = pytest.mark.integration


@dataclass
class Deployment:
    """A collection seeded in Postgres (open store) and in a closed Qdrant local-mode folder, plus the
    FARO_* environment the command reads."""

    pg: PgVectorStore
    collection: CollectionConfig
    qdrant_folder: Path
    chunks: list[Chunk]
    env: dict[str, str]

    def qdrant(self) -> QdrantStore:
        """A client of the folder (close it before running the command: one client per folder)."""
        return QdrantStore(QdrantConfig(path=str(self.qdrant_folder)), self.collection)

    def faro(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """``faro consistency ARGS`` as a subprocess with this environment plus ``env``."""
        return subprocess.run(
            [sys.executable, "-m", "faro_workloads.cli", "consistency", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def deployment(
    pg_store_factory, collection_config: CollectionConfig, make_chunks, tmp_path: Path
) -> Deployment:
    pg = pg_store_factory(collection_config)
    folder = tmp_path / "qdrant"
    qdrant = QdrantStore(QdrantConfig(path=str(folder)), collection_config)
    try:
        qdrant.ensure_collection()
        chunks = seed(pg, qdrant, make_chunks)
    finally:
        qdrant.close()
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FARO_", "KUBERNETES_"))  # KUBERNETES_SERVICE_HOST would mean "in a pod"
    }
    postgres = pg_store_factory.config
    env = {
        **inherited,
        "FARO_PIPELINE": PIPELINE,
        "FARO_POSTGRES__DSN": postgres.dsn.get_secret_value(),
        "FARO_POSTGRES__SCHEMA_NAME": postgres.schema_name,
        "FARO_POSTGRES__EF_SEARCH": str(postgres.ef_search),
        "FARO_COLLECTION__NAME": collection_config.name,
        "FARO_COLLECTION__DIMENSION": str(collection_config.dimension),
        "FARO_EMBEDDING__DIMENSION": str(collection_config.dimension),
        "FARO_QDRANT__PATH": str(folder),
        "FARO_CONSISTENCY__SAMPLE_SIZE": str(POINTS),
        "FARO_CONSISTENCY__K": str(K),
    }
    return Deployment(pg, collection_config, folder, chunks, env)


def _document(completed: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in completed.stderr, completed.stderr
    return json.loads(completed.stdout)


def test_command_on_consistent_stores_exits_0_and_pushes_metrics(
    deployment: Deployment, pushgateway: str
) -> None:
    completed = deployment.faro(
        FARO_CONSISTENCY__PUSHGATEWAY_URL=pushgateway, FARO_CONSISTENCY__NAMESPACE=NAMESPACE
    )

    assert completed.returncode == 0, completed.stderr
    document = _document(completed)
    assert (document["verdict"], document["result"], document["exit_code"]) == ("ok", "Consistent", 0)
    assert document["before"]["overlap_at_k"] == 1.0 and document["before"]["sampled"] == POINTS
    assert document["repair"] is None and document["after"] is None
    assert document["published"]["pushgateway"] == {"state": "done", "detail": pushgateway}
    assert document["published"]["status"]["state"] == "skipped"

    name = deployment.collection.name
    pushed = scrape(pushgateway, name)
    assert_grouped(pushed, name, namespace=NAMESPACE)  # set, so the dashboards' namespace filter finds it
    assert pushed.names == {
        "faro_consistency_overlap_ratio",
        "faro_consistency_k",
        "faro_consistency_min_overlap_ratio",
        "faro_consistency_points",
        "faro_consistency_missing_points",
        "faro_consistency_orphan_points",
        "faro_consistency_outbox_pending",
        "faro_consistency_repaired_points",
        "faro_consistency_duration_seconds",
        "faro_consistency_last_run_timestamp_seconds",
        "faro_consistency_last_success_timestamp_seconds",
    }
    assert pushed.value("faro_consistency_overlap_ratio") == 1.0
    assert pushed.value("faro_consistency_k") == K
    assert pushed.value("faro_consistency_min_overlap_ratio") == 0.95
    assert pushed.value("faro_consistency_points", store="qdrant") == POINTS
    assert pushed.value("faro_consistency_points", store="postgres") == POINTS
    assert pushed.value("faro_consistency_missing_points") == 0
    assert pushed.value("faro_consistency_orphan_points") == 0
    assert pushed.value("faro_consistency_outbox_pending") == 0
    assert pushed.value("faro_consistency_repaired_points", action="upserted") == 0
    assert pushed.value("faro_consistency_repaired_points", action="deleted") == 0
    assert pushed.value("faro_consistency_duration_seconds") == pytest.approx(
        document["duration_seconds"], abs=0.0006
    )  # the document rounds to milliseconds
    started = pushed.value("faro_consistency_last_run_timestamp_seconds")
    assert pushed.value("faro_consistency_last_success_timestamp_seconds") == started
    assert int(started) == int(datetime.fromisoformat(document["started_at"]).timestamp())


def test_command_reports_removed_points_then_repairs_them(
    deployment: Deployment, pushgateway: str, assert_stores_equal
) -> None:
    removed = sorted(chunk.id for chunk in deployment.chunks[::2])
    qdrant = deployment.qdrant()
    try:
        qdrant.delete(removed)
    finally:
        qdrant.close()
    name = deployment.collection.name

    drift = deployment.faro(FARO_CONSISTENCY__PUSHGATEWAY_URL=pushgateway)

    assert drift.returncode == 1, drift.stderr
    document = _document(drift)
    assert (document["verdict"], document["result"]) == ("drift", "Drift")
    assert document["before"]["overlap_at_k"] < 1.0
    assert document["before"]["missing_ids"] == [str(i) for i in removed]
    assert document["before"]["missing_count"] == len(removed) and document["before"]["orphan_ids"] == []
    assert (document["before"]["postgres_count"], document["before"]["qdrant_count"]) == (POINTS, K)
    pushed = scrape(pushgateway, name)
    assert pushed.value("faro_consistency_missing_points") == len(removed)
    assert pushed.value("faro_consistency_points", store="qdrant") == K
    assert pushed.value("faro_consistency_overlap_ratio") == pytest.approx(document["before"]["overlap_at_k"])
    assert "faro_consistency_last_success_timestamp_seconds" not in pushed.names

    repaired = deployment.faro("--repair", FARO_CONSISTENCY__PUSHGATEWAY_URL=pushgateway)

    assert repaired.returncode == 0, repaired.stderr
    document = _document(repaired)
    assert (document["verdict"], document["result"]) == ("ok", "Repaired")
    assert document["before"]["missing_ids"] == [str(i) for i in removed]
    assert document["repair"] == {
        "upserted": len(removed),
        "deleted": 0,
        "unchanged": POINTS - len(removed),
        "recreated_collection": False,
    }
    assert document["after"]["overlap_at_k"] == 1.0 and document["after"]["missing_count"] == 0
    pushed = scrape(pushgateway, name)
    assert pushed.value("faro_consistency_repaired_points", action="upserted") == len(removed)
    assert pushed.value("faro_consistency_missing_points") == 0
    assert pushed.value("faro_consistency_overlap_ratio") == 1.0
    assert "faro_consistency_last_success_timestamp_seconds" in pushed.names
    qdrant = deployment.qdrant()
    try:
        assert_stores_equal(deployment.pg, qdrant)
    finally:
        qdrant.close()


def test_command_with_unreachable_pushgateway_exits_3_and_still_prints(deployment: Deployment) -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    completed = deployment.faro(FARO_CONSISTENCY__PUSHGATEWAY_URL=dead)

    assert completed.returncode == 3, completed.stderr
    document = _document(completed)
    assert document["verdict"] == "ok" and document["exit_code"] == 3
    assert document["published"]["pushgateway"]["state"] == "failed"
    assert document["published"]["pushgateway"]["detail"].startswith(dead)
    assert f"cannot push metrics to {dead}" in completed.stderr


def test_command_with_invalid_configuration_exits_2_with_one_line(deployment: Deployment) -> None:
    completed = deployment.faro(FARO_CONSISTENCY__MIN_OVERLAP="2")

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        "faro: invalid configuration: consistency.min_overlap: Input should be less than or equal to 1"
    ]


def test_command_with_unreachable_postgres_exits_3_with_one_line(deployment: Deployment) -> None:
    dsn = f"postgresql://faro@127.0.0.1:{free_port()}/faro"

    completed = deployment.faro(FARO_POSTGRES__DSN=dsn)

    assert completed.returncode == 3 and completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("faro: cannot reach PostgreSQL:"), completed.stderr


def test_command_for_a_collection_postgres_does_not_hold_exits_2_naming_it(deployment: Deployment) -> None:
    """Nothing to check against (a name mistyped, or an engine not started yet): one line, and nothing
    created in either store."""
    completed = deployment.faro(FARO_COLLECTION__NAME="never_ingested")

    assert completed.returncode == 2 and completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("faro: PostgreSQL holds no collection 'never_ingested' in schema "), lines
    schema = deployment.env["FARO_POSTGRES__SCHEMA_NAME"]
    with psycopg.connect(deployment.env["FARO_POSTGRES__DSN"]) as conn:
        created = conn.execute("SELECT to_regclass(%s)", (f"{schema}.never_ingested_documents",)).fetchone()
    assert created == (None,)


def test_command_on_a_qdrant_folder_that_does_not_exist_exits_2_and_creates_none(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A mistyped folder would otherwise be a new, empty Qdrant with every point 'missing'."""
    folder = tmp_path / "qdrant-typo"

    completed = deployment.faro(FARO_QDRANT__PATH=str(folder))

    assert completed.returncode == 2 and completed.stdout == ""
    assert completed.stderr.splitlines() == [
        f"faro: the Qdrant folder {folder} does not exist (FARO_QDRANT__PATH)"
    ]
    assert not folder.exists()
