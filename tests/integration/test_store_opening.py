"""The stores a service opens build their indexes with the Collection's HNSW parameters, index generations'
included: the workloads, not only the operator, create tables and collections (a new generation's).

Qdrant's local mode keeps no HNSW settings, so the Qdrant side is a server here: local mode behind Qdrant's
REST routes (:mod:`support.qdrant_rest`), which records each create request as sent."""

from __future__ import annotations

import logging

import pytest
from qdrant_client import QdrantClient

from faro_workloads.contract.settings import CollectionConfig, HnswConfig, PostgresConfig, QdrantConfig
from faro_workloads.services.stores import StoreAccess, open_stores

from support.qdrant_rest import serving_qdrant_rest

pytestmark = pytest.mark.integration


def test_opened_stores_and_their_generations_use_the_configured_hnsw(
    postgres_config: PostgresConfig, collection_config: CollectionConfig
) -> None:
    hnsw = HnswConfig(m=8, ef_construct=40)
    with serving_qdrant_rest(QdrantClient(location=":memory:")) as (url, rest):
        qdrant = QdrantConfig(url=url)
        with open_stores(postgres_config, qdrant, collection_config, StoreAccess.SERVICE, hnsw) as stores:
            second_pg, second_qdrant = stores.pg.for_generation(2), stores.qdrant.for_generation(2)
            second_pg.ensure_schema()
            second_qdrant.ensure_collection()
            for pg in (stores.pg, second_pg):
                (definition,) = [d for d in pg.index_definitions().values() if "hnsw" in d]
                assert "m='8'" in definition and "ef_construction='40'" in definition, definition
            names = [stores.qdrant.name, second_qdrant.name]
    for name in names:
        created = rest.created[name].hnsw_config
        assert created is not None and (created.m, created.ef_construct) == (8, 40)


def test_a_collection_wider_than_hnsw_allows_searches_exactly_and_says_so_once(
    pg_store_factory, caplog: pytest.LogCaptureFixture
) -> None:
    """pgvector builds no HNSW index over more than 2,000 dimensions: the table gets none, every generation's
    build is a no-op, and the warning comes once per store, not at each pass and gate."""
    with caplog.at_level(logging.WARNING, logger="faro_workloads.core.stores.postgres.schema"):
        pg = pg_store_factory(CollectionConfig(name="wide", dimension=2001))
        second = pg.for_generation(2)
        second.ensure_chunks_table(with_hnsw=False)
        for _ in range(3):
            second.build_hnsw_index()
    assert not [d for d in pg.index_definitions().values() if "hnsw" in d]
    assert not [d for d in second.index_definitions().values() if "hnsw" in d]
    said = [r.getMessage() for r in caplog.records if "HNSW limit" in r.getMessage()]
    assert len(said) == 2, said  # the store's own table, and the second generation's
