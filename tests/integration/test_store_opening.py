"""The stores a service opens build their indexes with the Collection's HNSW parameters, index generations'
included: the workloads, not only the operator, create tables and collections (a new generation's).

Qdrant's local mode keeps no HNSW settings, so the Qdrant side is a server here: local mode behind Qdrant's
REST routes (:mod:`support.qdrant_rest`), which records each create request as sent."""

from __future__ import annotations

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
