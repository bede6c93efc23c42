"""Opening a collection's two stores: the one way every service, local mode and the consistency job do it.

What the caller may create, and which failures stop it, depends on who it is (:class:`StoreAccess`):

- ``SERVICE`` (``faro serve query|embedder``): the PostgreSQL schema is ensured and any error there stops
  the service (PostgreSQL is the source of truth: fail fast). The Qdrant collection is ensured when Qdrant
  answers; any error there is only a warning, since writes wait in the outbox and queries fall back.
- ``LOCAL`` (``faro local``): both are ensured and any error stops (both stores are on this machine).
- ``AUDIT`` (``faro consistency``, ``faro sync``): nothing is created. A Qdrant collection that is missing is
  drift to report (or to rebuild with repair); a Qdrant folder that cannot be opened raises
  :class:`StoreUnavailable`. A PostgreSQL collection that is missing, the source of truth, is a
  :class:`ConfigurationError` naming it (nothing to check against).

Whoever opens them, PostgreSQL is probed with one direct connection first, so an unreachable server fails
within ``POSTGRES_PROBE_TIMEOUT_SECONDS`` with one line (:class:`StoreUnavailable`) rather than after the
pool's timeout with its traceback; a DSN that is not a connection string is a :class:`ConfigurationError`.

Whatever fails, what was opened before it is closed first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import TracebackType

import psycopg

from faro_workloads.contract.settings import CollectionConfig, HnswConfig, PostgresConfig, QdrantConfig
from faro_workloads.core.stores.ports import CollectionAdmin, SchemaAdmin, StoreConfigs
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.errors import ConfigurationError, DependencyUnavailable, one_line

log = logging.getLogger(__name__)

POSTGRES_PROBE_TIMEOUT_SECONDS = 10


class StoreAccess(Enum):
    """Who opens the stores, which decides what is created and which failures stop it (see the module)."""

    SERVICE = "service"
    LOCAL = "local"
    AUDIT = "audit"


class StoreUnavailable(DependencyUnavailable):
    """A store could not be opened or read; the message is one readable line that names it."""

    dependency = "store"


@dataclass
class Stores:
    """A collection's two open stores; closing closes Qdrant, then PostgreSQL."""

    pg: PgVectorStore
    qdrant: QdrantStore

    def close(self) -> None:
        try:
            self.qdrant.close()
        finally:
            self.pg.close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_stores(
    postgres: PostgresConfig,
    qdrant: QdrantConfig,
    collection: CollectionConfig,
    access: StoreAccess,
    hnsw: HnswConfig | None = None,
) -> Stores:
    """The collection's two stores, opened as ``access`` allows (see the module docstring); ``hnsw``: the
    graph parameters of every index they create (index generations' included)."""
    pg = open_postgres(postgres, collection, access, hnsw)
    try:
        return Stores(pg, _open_qdrant(qdrant, collection, access, hnsw))
    except BaseException:
        pg.close()
        raise


def open_postgres(
    config: PostgresConfig, collection: CollectionConfig, access: StoreAccess, hnsw: HnswConfig | None = None
) -> PgVectorStore:
    """The collection's PostgreSQL store alone (what needs no Qdrant: the bucket sync), as ``access``
    allows."""
    _probe_postgres(config)
    pg = PgVectorStore(config, collection, hnsw)
    try:
        if access is StoreAccess.AUDIT:
            _require_collection(pg, collection, config.schema_name)
        else:
            pg.ensure_schema()
    except BaseException:
        pg.close()
        raise
    return pg


def _require_collection(pg: PgVectorStore, collection: CollectionConfig, schema: str) -> None:
    """An audit reads the collection PostgreSQL holds and creates nothing: one that is not there is a
    configuration to check (or a pipeline whose engine has not started yet), not an unreachable store."""
    try:
        exists = pg.schema_exists()
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot read PostgreSQL: {one_line(exc)}") from exc
    if not exists:
        raise ConfigurationError(
            f"PostgreSQL holds no collection {collection.name!r} in schema {schema!r}: the "
            "embedding engine (or faro local) creates it when it first starts; check FARO_COLLECTION__NAME "
            "and FARO_POSTGRES__DSN"
        )


def require_lasting_qdrant(config: QdrantConfig, reads: bool = False) -> None:
    """A service (or job) that is to serve or check a collection needs a Qdrant that outlives it: refuse
    qdrant-client's in-memory store, empty at every start (the default when nothing says where Qdrant is).
    One that only ``reads`` (the query service, the consistency check) also needs a local-mode folder that is
    there: qdrant-client would make an empty store in it (every query answered with nothing and never
    falling back, every point of a check 'missing'); a writer makes it on its first start."""
    if config.url is None and config.path == ":memory:":
        raise ConfigurationError(
            "qdrant is an in-memory store, empty in every run: set FARO_QDRANT__URL "
            "(or FARO_QDRANT__PATH to a local-mode folder)"
        )
    if reads and config.path is not None and config.path != ":memory:" and not Path(config.path).is_dir():
        raise ConfigurationError(f"the Qdrant folder {config.path} does not exist (FARO_QDRANT__PATH)")


def _probe_postgres(config: PostgresConfig) -> None:
    """One direct connection: PostgreSQL answers, or one line says why not."""
    try:
        with psycopg.connect(config.dsn.get_secret_value(), connect_timeout=POSTGRES_PROBE_TIMEOUT_SECONDS):
            pass
    except psycopg.ProgrammingError:  # not a connection string; its text may hold a password: not quoted
        raise ConfigurationError(
            "the PostgreSQL DSN is not a connection string (postgresql://user@host:port/db, or key=value "
            "pairs)"
        ) from None
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot reach PostgreSQL: {one_line(exc)}") from exc


def _open_qdrant(
    config: QdrantConfig, collection: CollectionConfig, access: StoreAccess, hnsw: HnswConfig | None
) -> QdrantStore:
    if access is StoreAccess.AUDIT:
        try:
            return QdrantStore(config, collection, hnsw)
        except (RuntimeError, OSError, ValueError) as exc:  # local mode: folder locked or unusable
            raise StoreUnavailable(f"cannot open Qdrant: {one_line(exc)}") from exc
    qdrant = QdrantStore(config, collection, hnsw)
    try:
        qdrant.ensure_collection()
    except Exception as exc:
        if access is not StoreAccess.SERVICE:
            qdrant.close()
            raise
        log.warning("qdrant is not ready (%s); continuing: writes wait in the outbox, queries fall back", exc)
    except BaseException:
        qdrant.close()
        raise
    return qdrant


class DirectStoreAdmin:
    """:class:`~faro_workloads.core.stores.ports.StoreAdminOpener` for the operator: the two adapters at
    the configured locations (Qdrant's collection and PostgreSQL's tables are the operator's to create)."""

    def open(self, configs: StoreConfigs) -> tuple[SchemaAdmin, CollectionAdmin]:
        pg = PgVectorStore(configs.postgres, configs.collection, configs.hnsw)
        try:
            qdrant = QdrantStore(configs.qdrant, configs.collection, configs.hnsw)
        except BaseException:
            pg.close()
            raise
        return pg, qdrant
