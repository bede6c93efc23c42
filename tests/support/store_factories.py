"""Stores for the tests, each in its own place: a fresh PostgreSQL schema and collection name per test (or
module), Qdrant in local mode in memory; the factories the fixtures of ``tests/conftest.py`` hand out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from faro_workloads.contract.settings import CollectionConfig, Distance, PostgresConfig, QdrantConfig
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

TEST_DIMENSION = 16
"""Small vectors keep the tests fast; every fixture defaults to this dimension."""


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def new_collection(dimension: int = TEST_DIMENSION, distance: Distance = Distance.COSINE) -> CollectionConfig:
    return CollectionConfig(name=unique_name("c"), dimension=dimension, distance=distance)


@contextmanager
def own_schema(dsn: str) -> Iterator[PostgresConfig]:
    """Postgres settings with a fresh schema, dropped (CASCADE) on exit.

    ``ef_search`` is high so HNSW searches over the tests' small collections are exact.
    """
    config = PostgresConfig(dsn=dsn, schema_name=unique_name("s"), pool_size=4, ef_search=400)
    try:
        yield config
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(config.schema_name))
            )


class PgStoreFactory:
    """Builds :class:`PgVectorStore` objects in one schema and closes them all at the end.

    ``factory(collection=None, *, dimension=TEST_DIMENSION, distance=Distance.COSINE, ensure=True)``: without
    ``collection``, each call gets a new uniquely named collection; ``ensure`` runs ``ensure_schema()``.
    """

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._stores: list[PgVectorStore] = []

    def __call__(
        self,
        collection: CollectionConfig | None = None,
        *,
        dimension: int = TEST_DIMENSION,
        distance: Distance = Distance.COSINE,
        ensure: bool = True,
    ) -> PgVectorStore:
        store = PgVectorStore(self.config, collection or new_collection(dimension, distance))
        self._stores.append(store)
        if ensure:
            store.ensure_schema()
        return store

    def close(self) -> None:
        for store in self._stores:
            store.close()


class QdrantStoreFactory:
    """Builds :class:`QdrantStore` objects and closes them all at the end.

    ``factory(collection=None, config=None, *, dimension=TEST_DIMENSION, distance=Distance.COSINE,
    ensure=True, store_class=QdrantStore)``: ``config`` defaults to a fresh in-memory local-mode Qdrant (each
    store its own instance); without ``collection`` each call gets a new uniquely named collection;
    ``ensure`` runs ``ensure_collection()``; ``store_class`` may be a QdrantStore subclass.
    """

    def __init__(self) -> None:
        self._stores: list[QdrantStore] = []

    def __call__(
        self,
        collection: CollectionConfig | None = None,
        config: QdrantConfig | None = None,
        *,
        dimension: int = TEST_DIMENSION,
        distance: Distance = Distance.COSINE,
        ensure: bool = True,
        store_class: type[QdrantStore] = QdrantStore,
    ) -> QdrantStore:
        store = store_class(
            config or QdrantConfig(path=":memory:"), collection or new_collection(dimension, distance)
        )
        self._stores.append(store)
        if ensure:
            store.ensure_collection()
        return store

    def close(self) -> None:
        for store in self._stores:
            store.close()
