"""What the consistency job's tests share: a collection's small seed (20 points, sampled whole with k = 10:
when Qdrant lacks half the points, each lost point is its own top hit in Postgres only, so overlap@k < 1), and
what a Pushgateway (the ``pushgateway`` fixture of ``tests/integration/conftest.py``) exposes of a push."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from faro_workloads.consistency_job import (
    JOB_NAME,
)
from faro_workloads.contract.settings import (
    ConsistencyConfig,
)
from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

POINTS = 20
K = POINTS // 2
PIPELINE = "docs-pipeline"
NAMESPACE = "faro-docs"
CHECK_ALL = ConsistencyConfig(sample_size=POINTS, k=K, min_overlap=0.95)


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


def seed(pg: PgVectorStore, qdrant: QdrantStore, make_chunks: Callable[..., list[Chunk]]) -> list[Chunk]:
    chunks = [chunk for d in range(4) for chunk in make_chunks(f"doc-{d}", POINTS // 4)]
    pg.bulk_load(chunks)
    qdrant.upsert(chunks)
    return chunks
