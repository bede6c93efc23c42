"""The consistency job (`faro consistency`): its core on fixture stores, and the command end to end.

Real parts only: PostgreSQL + pgvector (pgserver), qdrant-client local mode (in memory for the core; a
folder for the command, which opens it itself, so the test's own client is closed first), and the Debian
``prometheus-pushgateway`` binary on a free 127.0.0.1 port (``support.prometheus_servers.Pushgateway``),
whose /metrics the tests scrape.

Collections are small (20 points) and every stored vector is sampled with k = 10 = half the collection: when
Qdrant lacks half the points, each lost point is its own top hit in Postgres only, so overlap@k < 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from faro_workloads.background_server import free_port
from faro_workloads.consistency_job import (
    JOB_NAME,
    ExitCode,
    Outcome,
    StoreUnavailable,
    metrics_registry,
    push_metrics,
    result_document,
    run_consistency,
    run_job,
)
from faro_workloads.contract.settings import (
    CollectionConfig,
    ConsistencyConfig,
    EmbeddingConfig,
    FaroSettings,
    QdrantConfig,
)
from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

from support.prometheus_servers import Pushgateway, StackError, find_binary

pytestmark = pytest.mark.integration

POINTS = 20
K = POINTS // 2
PIPELINE = "docs-pipeline"
NAMESPACE = "faro-docs"
CHECK_ALL = ConsistencyConfig(sample_size=POINTS, k=K, min_overlap=0.95)


# ------------------------------------------------------------------------------------------- pushgateway


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Pushgateway (the Debian binary) on a free port with its own persistence file."""
    try:
        find_binary("prometheus-pushgateway")
    except StackError as missing:
        pytest.skip(str(missing))
    server = Pushgateway(tmp_path_factory.mktemp("pushgateway"))
    server.start()
    yield server.url
    server.stop()


@dataclass(frozen=True)
class Pushed:
    """The faro_consistency_* samples the Pushgateway exposes for one collection, with their labels."""

    samples: list[tuple[str, dict[str, str], float]]

    def value(self, name: str, **labels: str) -> float:
        matches = [
            value
            for sample, sample_labels, value in self.samples
            if sample == name and all(sample_labels.get(key) == want for key, want in labels.items())
        ]
        assert len(matches) == 1, f"{name}{labels}: {len(matches)} samples"
        return matches[0]

    @property
    def names(self) -> set[str]:
        return {name for name, _, _ in self.samples}


def scrape(gateway: str, collection: str) -> Pushed:
    """Scrape the Pushgateway and keep the faro_consistency_* samples of ``collection``."""
    response = httpx.get(f"{gateway}/metrics", timeout=5)
    response.raise_for_status()
    samples = [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name.startswith("faro_consistency_") and sample.labels.get("collection") == collection
    ]
    return Pushed(samples)


def assert_grouped(pushed: Pushed, collection: str, namespace: str | None = None) -> None:
    """Every sample carries the push's grouping labels and nothing unbounded."""
    expected = {"job": JOB_NAME, "pipeline": PIPELINE, "collection": collection, "namespace": namespace}
    for name, labels, _ in pushed.samples:
        assert {key: labels.get(key) for key in expected} == expected, name
        assert set(labels) <= {*expected, "instance", "store", "action"}, name


# ------------------------------------------------------------------------------------------ the core


def _seed(pg: PgVectorStore, qdrant: QdrantStore, make_chunks: Callable[..., list[Chunk]]) -> list[Chunk]:
    chunks = [chunk for d in range(4) for chunk in make_chunks(f"doc-{d}", POINTS // 4)]
    pg.bulk_load(chunks)
    qdrant.upsert(chunks)
    return chunks


def test_equal_stores_are_consistent(pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks) -> None:
    _seed(pg_store, qdrant_store, make_chunks)

    result = run_consistency(pg_store, qdrant_store, CHECK_ALL)

    assert result.ok and result.outcome is Outcome.CONSISTENT and result.exit_code is ExitCode.OK
    assert result.repair is None and result.after is None and result.final is result.before
    assert (result.final.overlap_at_k, result.final.sampled, result.final.k) == (1.0, POINTS, K)
    assert (result.final.postgres_count, result.final.qdrant_count) == (POINTS, POINTS)
    document = json.loads(json.dumps(result_document(result, pipeline=PIPELINE, collection="c")))
    assert document["verdict"] == "ok" and document["result"] == "Consistent" and document["problems"] == []
    assert document["before"]["missing_ids"] == [] and document["after"] is None


def test_orphans_are_detected_then_deleted_by_repair(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, assert_stores_equal
) -> None:
    _seed(pg_store, qdrant_store, make_chunks)
    orphans = make_chunks("deleted-doc", 4)
    qdrant_store.upsert(orphans)
    orphan_ids = sorted(chunk.id for chunk in orphans)

    checked = run_consistency(pg_store, qdrant_store, CHECK_ALL)

    assert checked.outcome is Outcome.DRIFT and checked.exit_code is ExitCode.DRIFT
    assert checked.final.orphan_ids == orphan_ids and checked.final.missing_ids == []
    # Orphans also answer Qdrant's searches, so they push Postgres's neighbours out of its top k.
    assert checked.final.overlap_at_k < 1.0 and checked.problems[-1] == "4 orphan points in qdrant"

    repaired = run_consistency(pg_store, qdrant_store, CHECK_ALL.model_copy(update={"repair": True}))

    assert repaired.before.orphan_ids == orphan_ids
    assert repaired.repair is not None and (repaired.repair.deleted, repaired.repair.upserted) == (4, 0)
    assert repaired.after is not None and repaired.after.consistent and repaired.after.overlap_at_k == 1.0
    assert repaired.outcome is Outcome.REPAIRED and repaired.exit_code is ExitCode.OK
    assert_stores_equal(pg_store, qdrant_store)
    document = result_document(repaired, pipeline=PIPELINE, collection="c")
    assert document["before"]["orphan_ids"] == [str(i) for i in orphan_ids]
    assert document["after"]["orphan_count"] == 0 and document["repair"]["deleted"] == 4


def test_overlap_below_minimum_is_drift_even_when_ids_agree(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks
) -> None:
    _seed(pg_store, qdrant_store, make_chunks)
    # Same ids, but Qdrant holds other vectors for half the points: its neighbourhoods differ.
    qdrant_store.upsert([c for d in range(2) for c in make_chunks(f"doc-{d}", POINTS // 4, seed=99 + d)])

    result = run_consistency(pg_store, qdrant_store, CHECK_ALL)

    assert result.final.missing_ids == [] and result.final.orphan_ids == []
    assert result.final.overlap_at_k < CHECK_ALL.min_overlap
    assert result.outcome is Outcome.DRIFT and result.exit_code is ExitCode.DRIFT
    assert len(result.problems) == 1 and result.problems[0].startswith(f"overlap@{K} ")


def test_id_lists_are_capped_but_counted(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks
) -> None:
    chunks = _seed(pg_store, qdrant_store, make_chunks)
    lost = sorted(chunk.id for chunk in chunks[:K])
    qdrant_store.delete(lost)

    result = run_consistency(pg_store, qdrant_store, CHECK_ALL)
    document = result_document(result, pipeline=PIPELINE, collection="c", id_limit=3)

    assert document["before"]["missing_count"] == K
    assert document["before"]["missing_ids"] == [str(i) for i in lost[:3]]


def test_pushed_metrics_keep_the_last_success_of_an_earlier_run(
    pg_store: PgVectorStore,
    qdrant_store: QdrantStore,
    collection_config: CollectionConfig,
    make_chunks,
    pushgateway: str,
) -> None:
    chunks = _seed(pg_store, qdrant_store, make_chunks)
    name = collection_config.name

    good = run_consistency(pg_store, qdrant_store, CHECK_ALL)
    push_metrics(metrics_registry(good), pushgateway, pipeline=PIPELINE, collection=name)
    first = scrape(pushgateway, name)
    assert first.value("faro_consistency_last_success_timestamp_seconds") == pytest.approx(
        good.started_at.timestamp()
    )

    qdrant_store.delete([chunk.id for chunk in chunks[:K]])
    bad = run_consistency(pg_store, qdrant_store, CHECK_ALL)
    assert not bad.ok
    push_metrics(metrics_registry(bad), pushgateway, pipeline=PIPELINE, collection=name)
    second = scrape(pushgateway, name)

    # The failing run replaced every gauge it carries, and left the earlier success in place.
    assert second.value("faro_consistency_missing_points") == K
    assert second.value("faro_consistency_overlap_ratio") == pytest.approx(bad.final.overlap_at_k)
    assert second.value("faro_consistency_last_run_timestamp_seconds") == pytest.approx(
        bad.started_at.timestamp()
    )
    assert second.value("faro_consistency_last_success_timestamp_seconds") == pytest.approx(
        good.started_at.timestamp()
    )
    assert_grouped(second, name)


def test_unreachable_qdrant_is_one_readable_error(
    pg_store_factory, collection_config: CollectionConfig, make_chunks, dead_qdrant_url: str
) -> None:
    pg_store_factory(collection_config).bulk_load(make_chunks("doc", 3))
    settings = FaroSettings(
        postgres=pg_store_factory.config,
        collection=collection_config,
        embedding=EmbeddingConfig(dimension=collection_config.dimension),
        qdrant=QdrantConfig(url=dead_qdrant_url, timeout_seconds=0.5),
    )

    with pytest.raises(StoreUnavailable, match=rf"^cannot read Qdrant at {dead_qdrant_url}: ") as raised:
        run_job(settings)

    assert "\n" not in str(raised.value)


# ----------------------------------------------------------------------------------- the command


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
        chunks = _seed(pg, qdrant, make_chunks)
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
