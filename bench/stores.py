"""The real stores the benchmarks run against, started in a temporary folder and stopped afterwards.

PostgreSQL + pgvector is an embedded server (pgserver, reached over its unix socket in the temp folder);
Qdrant is local mode on the engine ``faro local`` runs (Qdrant Edge; ``--qdrant-engine python`` for
qdrant-client's Python local mode), in memory (default: a temporary folder for Edge) or on a folder
(``--qdrant disk``, as ``faro local`` runs it; the Python engine then commits SQLite once per point, so disk
latency dominates). Every measured
run gets fresh, uniquely named collections, so no run sees another's data or indexes. Everything is
stopped on exit, also on Ctrl-C (the context manager's ``finally``).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from pydantic import SecretStr

from bench.raw_qdrant import RawQdrant, open_raw_qdrant
from faro_workloads.contract.settings import (
    DEFAULT_LOCAL_ENGINE,
    CollectionConfig,
    LocalEngine,
    PostgresConfig,
    QdrantConfig,
)
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

from support.postgres import temporary_postgres

BENCH_SCHEMA = "bench"
DIMENSION = 384
QdrantLocation = Literal["memory", "disk"]


@dataclass
class BenchStores:
    """A running PostgreSQL and a folder for Qdrant local-mode instances; hands out fresh collections."""

    root: Path
    dsn: str
    dimension: int = DIMENSION
    qdrant_location: QdrantLocation = "memory"
    qdrant_engine: LocalEngine = DEFAULT_LOCAL_ENGINE
    _counter: Iterator[int] = field(default_factory=itertools.count)
    _closables: list[PgVectorStore | QdrantStore | RawQdrant] = field(default_factory=list)

    @property
    def postgres_config(self) -> PostgresConfig:
        return PostgresConfig(dsn=SecretStr(self.dsn), schema_name=BENCH_SCHEMA)

    def new_collection(self, prefix: str) -> CollectionConfig:
        return CollectionConfig(name=f"{prefix}_{next(self._counter)}", dimension=self.dimension)

    def qdrant_path(self, collection: CollectionConfig) -> str:
        """Where a new local-mode instance for ``collection`` lives (each gets its own)."""
        if self.qdrant_location == "memory":
            return ":memory:"
        return str(self.root / "qdrant" / collection.name)

    @property
    def qdrant_config(self) -> QdrantConfig:
        """Local mode in memory on this run's engine (for a service the benchmark configures)."""
        return QdrantConfig(path=":memory:", local_engine=self.qdrant_engine)

    def pg_store(self, collection: CollectionConfig) -> PgVectorStore:
        """The product's store for ``collection``, with its tables created (empty)."""
        store = PgVectorStore(self.postgres_config, collection)
        self._closables.append(store)
        store.ensure_schema()
        return store

    def qdrant_store(self, collection: CollectionConfig) -> QdrantStore:
        """The product's store for ``collection`` in a local-mode folder of its own, collection created."""
        config = QdrantConfig(path=self.qdrant_path(collection), local_engine=self.qdrant_engine)
        store = QdrantStore(config, collection)
        self._closables.append(store)
        store.ensure_collection()
        return store

    def raw_qdrant(self, collection: CollectionConfig) -> RawQdrant:
        """The bare engine on a folder of its own, with the collection laid out as Faro lays it out on that
        engine (:class:`~bench.raw_qdrant.RawQdrant`)."""
        path = self.qdrant_path(collection)
        raw = open_raw_qdrant(self.qdrant_engine, collection, None if path == ":memory:" else path)
        self._closables.append(raw)
        return raw

    def chunks_table(self, collection: CollectionConfig) -> sql.Identifier:
        """The chunks table the product's store uses for ``collection``."""
        return sql.Identifier(BENCH_SCHEMA, f"{collection.name}_chunks")

    def connect(self) -> psycopg.Connection:
        """A bare connection with the pgvector types registered."""
        from pgvector.psycopg import register_vector

        conn = psycopg.connect(self.dsn)
        register_vector(conn)
        return conn

    def vacuum_analyze(self, collection: CollectionConfig) -> None:
        """VACUUM ANALYZE the collection's chunks table after a bulk load, as ``pgbench -i`` does and
        autovacuum does by itself within a minute or so of the load: searches are then measured on the table
        as it serves in steady state (planner statistics; a visibility map for index-only counts)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(self.chunks_table(collection)))

    def close(self, closable: PgVectorStore | QdrantStore | RawQdrant) -> None:
        closable.close()
        if closable in self._closables:
            self._closables.remove(closable)

    def close_all(self) -> None:
        while self._closables:
            self._closables.pop().close()


@contextmanager
def bench_stores(
    dimension: int = DIMENSION, qdrant: QdrantLocation = "memory", engine: LocalEngine = DEFAULT_LOCAL_ENGINE
) -> Iterator[BenchStores]:
    """Start PostgreSQL + pgvector (:func:`temporary_postgres`) and a temp folder for Qdrant's files."""
    root = Path(tempfile.mkdtemp(prefix="faro-bench-", dir="/tmp"))
    try:
        with temporary_postgres(prefix="faro-bench-pg-") as dsn:
            stores = BenchStores(
                root=root, dsn=dsn, dimension=dimension, qdrant_location=qdrant, qdrant_engine=engine
            )
            try:
                yield stores
            finally:
                stores.close_all()
    finally:
        shutil.rmtree(root, ignore_errors=True)
