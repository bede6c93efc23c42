"""The adapters and the test fakes have every member of the store ports they stand for, with the ports'
parameters (names, kinds and defaults): the project runs no type checker, so this is what keeps a port and
its implementations from drifting apart."""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import pytest

from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.stores import ports
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.postgres.fill_claims import FillClaims
from faro_workloads.core.stores.postgres.search import AsyncPostgresSearch
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.core.stores.qdrant_async import AsyncQdrantSearch
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.core.stores.threaded_search import ThreadedSearch
from faro_workloads.services.stores import DirectStoreAdmin

from support.fake_stores import FakeChunkObjects, FakePostgres, FakeQdrant, FakeSearch

LAYOUT = ChunkObjectLayout("chunks", "demo")

IMPLEMENTATIONS: list[tuple[type, Any]] = [
    (ports.AuditedSource, PgVectorStore),  # DocumentCatalog etc. are checked one by one below
    (ports.DocumentCatalog, PgVectorStore),
    (ports.DocumentWriter, PgVectorStore),
    (ports.DocumentTexts, PgVectorStore),
    (ports.DocumentEvidence, PgVectorStore),
    (ports.FailureLog, PgVectorStore),
    (ports.EmbeddingCache, PgVectorStore),
    (ports.GenerationTarget, PgVectorStore),
    (ports.CutDocuments, PgVectorStore),
    (ports.DocumentClaims, FillClaims),
    (ports.OutboxClaims, PgVectorStore),
    (ports.VectorSearch, PgVectorStore),
    (ports.ChunkSearch, PgVectorStore),
    (ports.ChunkSearch, QdrantStore),
    (ports.AsyncSearchSource, PgVectorStore),
    (ports.AsyncSearchSource, QdrantStore),
    (ports.AsyncChunkSearch, AsyncPostgresSearch),
    (ports.AsyncChunkSearch, AsyncQdrantSearch),
    (ports.AsyncChunkSearch, ThreadedSearch),
    (ports.SchemaAdmin, PgVectorStore),
    (ports.AuditedReplica, QdrantStore),
    (ports.CollectionAdmin, QdrantStore),
    (ports.ChunkObjectReader, S3ChunkStore(client=None, bucket="b", layout=LAYOUT)),
    (ports.DocumentCatalog, FakePostgres()),
    (ports.DocumentWriter, FakePostgres()),
    (ports.DocumentTexts, FakePostgres()),
    (ports.EmbeddingCache, FakePostgres()),
    (ports.OutboxClaims, FakePostgres()),
    (ports.PointSink, FakeQdrant()),
    (ports.VectorSearch, FakeSearch([])),
    (ports.ChunkSearch, FakeSearch([])),
    (ports.AsyncSearchSource, FakeSearch([])),
    (ports.ChunkObjectReader, FakeChunkObjects("b", LAYOUT)),
    (ports.StoreAdminOpener, DirectStoreAdmin),
]


def _members(port: type) -> dict[str, Any]:
    """The port's own and inherited members: methods and properties by name, attributes as None."""
    members: dict[str, Any] = {}
    for cls in reversed(port.__mro__):
        if cls in (object, Protocol) or not getattr(cls, "_is_protocol", False):
            continue
        members.update(dict.fromkeys(getattr(cls, "__annotations__", {})))
        members.update({name: value for name, value in vars(cls).items() if not name.startswith("_")})
    return members


def _parameters(function: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()][1:]


def _case_id(case: tuple[type, Any]) -> str:
    port, implementation = case
    name = implementation.__name__ if isinstance(implementation, type) else type(implementation).__name__
    return f"{name}-{port.__name__}"


@pytest.mark.parametrize("case", IMPLEMENTATIONS, ids=_case_id)
def test_an_implementation_has_every_member_of_its_port(case: tuple[type, Any]) -> None:
    port, implementation = case
    members = _members(port)
    assert members, f"{port.__name__} has no members"
    owner = implementation if isinstance(implementation, type) else type(implementation)
    for name, member in members.items():
        assert hasattr(implementation, name), f"{name} is missing"
        if callable(member):
            assert _parameters(getattr(owner, name)) == _parameters(member), name


def test_every_port_is_implemented_by_an_adapter_and_checked_here() -> None:
    declared = {
        value
        for value in vars(ports).values()
        if isinstance(value, type)
        and getattr(value, "_is_protocol", False)
        and value.__module__ == ports.__name__
    }
    checked = {cls for port, _ in IMPLEMENTATIONS for cls in port.__mro__ if cls in declared}
    assert checked == declared
