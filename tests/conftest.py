"""Shared fixtures: real parts only.

- ``postgres_dsn`` (session): a real PostgreSQL 16 + pgvector started with ``pgserver``, stopped at the end.
- ``postgres_config`` / ``collection_config``: a fresh schema and collection name per test, so tests never
  see each other's tables; the schema is dropped afterwards (``postgres_config_module``: per module).
- ``pg_store_factory`` / ``pg_store``: :class:`PgVectorStore` objects with their schema ensured, closed
  afterwards (``pg_store_factory_module``: shared by a module, for module-scoped fixtures).
- ``qdrant_store_factory`` / ``qdrant_store``: :class:`QdrantStore` objects in qdrant-client local mode
  (``:memory:``) with their collection ensured, closed afterwards (``qdrant_store_factory_module``: per
  module).
- ``dead_qdrant_url`` / ``dead_qdrant_store``: a URL where nothing listens (connections are refused), and a
  store pointed at it: an unavailable Qdrant.
- ``make_chunks`` / ``make_record``: deterministic chunks (seeded random unit vectors) and their record.
- ``assert_stores_equal``: checks that Qdrant holds exactly what Postgres holds.
- ``moto_url`` (session): a local S3 + SQS server (``moto_server``) on loopback; ``aws_pipeline``: a fresh
  bucket, event queue, dead-letter queue and ObjectCreated notification per test, with S3/SQS configs.
"""

from __future__ import annotations

import socket
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from faro_workloads.contract.settings import CollectionConfig, PostgresConfig, QdrantConfig
from faro_workloads.core.documents import Chunk, DocumentRecord
from faro_workloads.core.repair import same_point
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

from support.postgres import temporary_postgres
from support.store_factories import (
    TEST_DIMENSION,
    PgStoreFactory,
    QdrantStoreFactory,
    new_collection,
    own_schema,
)

ChunkFactory = Callable[..., list[Chunk]]
RecordFactory = Callable[..., DocumentRecord]


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a real PostgreSQL + pgvector for the whole session (pgserver, embedded binaries).

    The data directory is short and under /tmp because the unix socket lives inside it (107-char limit).
    """
    pytest.importorskip("pgserver", reason="needs the [local] extra (pgserver)")
    with temporary_postgres() as dsn:
        yield dsn


@pytest.fixture
def postgres_config(postgres_dsn: str) -> Iterator[PostgresConfig]:
    """Postgres settings with a schema of this test's own, dropped after the test."""
    with own_schema(postgres_dsn) as config:
        yield config


@pytest.fixture(scope="module")
def postgres_config_module(postgres_dsn: str) -> Iterator[PostgresConfig]:
    """Postgres settings with a schema of this test module's own, dropped after the module."""
    with own_schema(postgres_dsn) as config:
        yield config


@pytest.fixture
def collection_config() -> CollectionConfig:
    """A collection with a unique name (cosine, ``TEST_DIMENSION`` dimensions): what pg_store and
    qdrant_store hold."""
    return new_collection()


@pytest.fixture
def pg_store_factory(postgres_config: PostgresConfig) -> Iterator[PgStoreFactory]:
    """A :class:`PgStoreFactory` whose stores are closed (and schema dropped) after the test."""
    factory = PgStoreFactory(postgres_config)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def pg_store_factory_module(postgres_config_module: PostgresConfig) -> Iterator[PgStoreFactory]:
    """A :class:`PgStoreFactory` shared by a test module (for module-scoped fixtures)."""
    factory = PgStoreFactory(postgres_config_module)
    yield factory
    factory.close()


@pytest.fixture
def qdrant_store_factory() -> Iterator[QdrantStoreFactory]:
    """A :class:`QdrantStoreFactory` whose stores are closed after the test."""
    factory = QdrantStoreFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def qdrant_store_factory_module() -> Iterator[QdrantStoreFactory]:
    """A :class:`QdrantStoreFactory` shared by a test module (for module-scoped fixtures)."""
    factory = QdrantStoreFactory()
    yield factory
    factory.close()


@pytest.fixture
def pg_store(pg_store_factory: PgStoreFactory, collection_config: CollectionConfig) -> PgVectorStore:
    """A ready PgVectorStore for ``collection_config``."""
    return pg_store_factory(collection_config)


@pytest.fixture
def qdrant_store(
    qdrant_store_factory: QdrantStoreFactory, collection_config: CollectionConfig
) -> QdrantStore:
    """A ready in-memory QdrantStore for ``collection_config``."""
    return qdrant_store_factory(collection_config)


@pytest.fixture
def dead_qdrant_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens: every request is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def dead_qdrant_store(
    qdrant_store_factory: QdrantStoreFactory, collection_config: CollectionConfig, dead_qdrant_url: str
) -> QdrantStore:
    """A QdrantStore for ``collection_config`` pointed at ``dead_qdrant_url`` (0.5 s timeout): an outage."""
    return qdrant_store_factory(
        collection_config, QdrantConfig(url=dead_qdrant_url, timeout_seconds=0.5), ensure=False
    )


def unit_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    """``count`` deterministic random unit vectors (float32 rows)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def make_chunks() -> ChunkFactory:
    """Factory: ``make_chunks(doc_id, count, *, seed=None, dimension=TEST_DIMENSION, metadata=None,
    content_hash=None, model="test-model")`` -> chunks 0..count-1 of ``doc_id``.

    Vectors are seeded random unit vectors: the same ``doc_id`` and ``seed`` always give the same chunks
    (``seed`` defaults to a hash of ``doc_id``); change ``seed`` to get a new version of the document.
    ``metadata`` is a dict for every chunk, or a callable ``seq -> dict``.
    """

    def make(
        doc_id: str,
        count: int,
        *,
        seed: int | None = None,
        dimension: int = TEST_DIMENSION,
        metadata: dict[str, Any] | Callable[[int], dict[str, Any]] | None = None,
        content_hash: str | None = None,
        model: str = "test-model",
    ) -> list[Chunk]:
        seed = zlib.crc32(doc_id.encode()) if seed is None else seed
        vectors = unit_vectors(count, dimension, seed)
        digest = content_hash or f"hash-{doc_id}-{seed}"
        chunks = []
        for seq in range(count):
            text = f"{doc_id} chunk {seq} (v{seed})"
            meta = metadata(seq) if callable(metadata) else dict(metadata or {})
            chunks.append(
                Chunk(
                    doc_id=doc_id,
                    seq=seq,
                    text=text,
                    start=seq * 100,
                    end=seq * 100 + len(text),
                    metadata=meta,
                    content_hash=digest,
                    model=model,
                    embedding=vectors[seq],
                )
            )
        return chunks

    return make


@pytest.fixture
def make_record() -> RecordFactory:
    """Factory: ``make_record(chunks, doc_id=None, source="test", metadata=None)`` -> the DocumentRecord of
    a document made of ``chunks`` (``doc_id`` is required when ``chunks`` is empty)."""

    def make(
        chunks: list[Chunk],
        doc_id: str | None = None,
        source: str = "test",
        metadata: dict[str, Any] | None = None,
    ) -> DocumentRecord:
        if doc_id is None:
            doc_id = chunks[0].doc_id
        return DocumentRecord(
            doc_id=doc_id,
            content_hash=chunks[0].content_hash if chunks else "empty",
            source=source,
            chunk_count=len(chunks),
            metadata=metadata or {},
            updated_at=datetime.now(UTC),
        )

    return make


@pytest.fixture
def assert_stores_equal() -> Callable[[PgVectorStore, QdrantStore], None]:
    """Checker: ``assert_stores_equal(pg, qdrant)`` fails unless both stores hold the same point ids and,
    for each, the same payload and vector (compared as Qdrant stores it: normalised for cosine)."""

    def check(pg: PgVectorStore, qdrant: QdrantStore) -> None:
        pg_ids = pg.all_ids()
        qdrant_ids = {point for ids in qdrant.scroll_ids() for point in ids}
        assert qdrant_ids == pg_ids, (
            f"{len(pg_ids - qdrant_ids)} missing from qdrant, {len(qdrant_ids - pg_ids)} orphans in qdrant"
        )
        held = qdrant.retrieve(sorted(pg_ids), with_vectors=True)
        distance = pg.collection.distance
        for chunks in pg.iter_chunks():
            for chunk in chunks:
                assert held[chunk.id].payload() == chunk.payload(), chunk.id
                assert same_point(chunk, held[chunk.id], distance), f"vector of {chunk.id} differs"

    return check


# --------------------------------------------------------------------------------------------- S3 + SQS


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real local S3 + SQS server for the session (moto_server on 127.0.0.1, a free port)."""
    from faro_workloads.aws_resources import MotoServer, use_local_credentials
    from faro_workloads.background_server import free_port

    use_local_credentials()
    server = MotoServer(free_port(), log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server.url
    server.stop()


@dataclass(frozen=True)
class AwsPipeline:
    """A bucket wired to an event queue (with a dead-letter queue), and configs that point at them."""

    s3: Any
    sqs: Any
    s3_config: Any
    sqs_config: Any
    pipeline: str

    def queue_depth(self, url: str) -> int:
        from faro_workloads.aws_resources import queue_depth

        return queue_depth(self.sqs, url)

    @contextmanager
    def notifications_off(self) -> Iterator[None]:
        """The bucket's notification configuration removed, as a misconfiguration would, then put back (S3
        then sends its test event to the queue)."""
        bucket = self.s3_config.bucket
        saved = self.s3.get_bucket_notification_configuration(Bucket=bucket)
        saved.pop("ResponseMetadata", None)
        self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        try:
            yield
        finally:
            self.s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=saved)


@pytest.fixture
def aws_pipeline(moto_url: str) -> AwsPipeline:
    from faro_workloads.aws_resources import provision_pipeline_resources, s3_client, sqs_client
    from faro_workloads.contract.settings import S3Config, SQSConfig

    name = uuid.uuid4().hex[:10]
    pipeline = f"p-{name}"
    s3_config = S3Config(bucket=f"chunks-{name}", prefix="faro", endpoint_url=moto_url)
    provisional = SQSConfig(queue_url="pending", endpoint_url=moto_url)
    s3, sqs = s3_client(s3_config), sqs_client(provisional)
    queues = provision_pipeline_resources(
        s3,
        sqs,
        s3_config.bucket,
        f"events-{name}",
        key_prefix=f"faro/{pipeline}/",
        max_receives=3,
        source_prefix="raw/",
    )
    sqs_config = SQSConfig(
        queue_url=queues.queue_url,
        dead_letter_queue_url=queues.dead_letter_queue_url,
        endpoint_url=moto_url,
        max_receives=3,
        wait_seconds=1,
        visibility_timeout_seconds=5,
        concurrency=2,
    )
    return AwsPipeline(s3=s3, sqs=sqs, s3_config=s3_config, sqs_config=sqs_config, pipeline=pipeline)
