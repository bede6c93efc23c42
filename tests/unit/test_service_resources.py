"""How services open and close what they use, without any store: :class:`Resources` closes last opened
first and every closer runs; :func:`open_stores` creates and tolerates what its :class:`StoreAccess` says
(stores replaced by recording fakes)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import pytest

from faro_workloads.contract.settings import CollectionConfig, PostgresConfig, QdrantConfig
from faro_workloads.errors import ConfigurationError
from faro_workloads.services import stores as stores_module
from faro_workloads.services.resources import HttpService, Resources, Service
from faro_workloads.services.stores import StoreAccess, StoreUnavailable, open_stores

# ------------------------------------------------------------------------------------------ resources


class Recorded:
    """A closable that writes its name into ``closed`` when closed (and then raises ``error``, if any)."""

    def __init__(self, name: str, closed: list[str], error: Exception | None = None) -> None:
        self.name, self._closed, self._error = name, closed, error

    def close(self) -> None:
        self._closed.append(self.name)
        if self._error is not None:
            raise self._error


def test_resources_close_last_opened_first() -> None:
    closed: list[str] = []
    resources = Resources()
    first = resources.add(Recorded("stores", closed))
    resources.add(Recorded("embedder", closed))
    resources.add_closer("server", lambda: closed.append("server"))

    resources.close()
    resources.close()  # a second close has nothing left to close

    assert first.name == "stores"
    assert closed == ["server", "embedder", "stores"]


def test_every_closer_runs_when_one_raises_and_the_first_error_comes_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []
    resources = Resources()
    resources.add(Recorded("stores", closed))
    resources.add(Recorded("embedder", closed, RuntimeError("embedder stuck")))
    resources.add(Recorded("retriever", closed, RuntimeError("pool stuck")))

    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError, match="pool stuck"):
        resources.close()

    assert closed == ["retriever", "embedder", "stores"]
    assert "embedder stuck" in caplog.text and "pool stuck" in caplog.text


def test_a_failing_build_closes_what_it_opened_and_raises_its_own_error() -> None:
    closed: list[str] = []
    resources = Resources()

    with pytest.raises(ValueError, match="bad settings"), resources.closed_on_error():
        resources.add(Recorded("stores", closed))
        resources.add(Recorded("embedder", closed, RuntimeError("close failed too")))
        raise ValueError("bad settings")

    assert closed == ["embedder", "stores"]


def test_a_service_left_by_an_error_keeps_that_error() -> None:
    closed: list[str] = []
    resources = Resources()
    resources.add(Recorded("stores", closed, RuntimeError("close failed")))

    with pytest.raises(KeyboardInterrupt), HttpService(app=None, resources=resources):  # type: ignore[arg-type]
        raise KeyboardInterrupt

    assert closed == ["stores"]


def test_a_service_left_normally_reports_a_failed_close() -> None:
    service = Service()
    service.resources = Resources()
    service.resources.add(Recorded("stores", [], RuntimeError("close failed")))

    with pytest.raises(RuntimeError, match="close failed"), service:
        pass


# ------------------------------------------------------------------------------------------- stores

COLLECTION = CollectionConfig(name="docs", dimension=8)
POSTGRES = PostgresConfig()
QDRANT = QdrantConfig(path=":memory:")


class FakeStoreClasses:
    """Stand-ins for PgVectorStore and QdrantStore that record what is done to them, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[str] = []
        self.failures: dict[str, Exception] = {}
        self.probes: list[dict[str, Any]] = []
        monkeypatch.setattr(stores_module, "PgVectorStore", self._store_class("pg", "ensure_schema"))
        monkeypatch.setattr(stores_module, "QdrantStore", self._store_class("qdrant", "ensure_collection"))
        monkeypatch.setattr(stores_module.psycopg, "connect", self._connect)

    def _store_class(self, kind: str, ensure: str) -> type:
        fakes = self

        class Store:
            def __init__(self, config: object, collection: CollectionConfig, hnsw: object = None) -> None:
                fakes._event(f"{kind} open")

            def close(self) -> None:
                fakes.events.append(f"{kind} close")

        setattr(Store, ensure, lambda _self: fakes._event(f"{kind} {ensure}"))
        if kind == "pg":  # an audit asks whether the collection is there (raise "pg absent" to say no)
            Store.schema_exists = lambda _self: fakes._exists("pg schema_exists")  # type: ignore[attr-defined]
        return Store

    def _exists(self, event: str) -> bool:
        self._event(event)
        return "pg absent" not in self.failures

    def _event(self, event: str) -> None:
        self.events.append(event)
        if event in self.failures:
            raise self.failures[event]

    def _connect(self, dsn: str, **kwargs: Any) -> Any:
        self.probes.append(kwargs)
        if "pg probe" in self.failures:
            raise self.failures["pg probe"]
        return _Connection()


class _Connection:
    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> FakeStoreClasses:
    return FakeStoreClasses(monkeypatch)


def test_services_ensure_both_stores(fakes: FakeStoreClasses) -> None:
    with open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.SERVICE):
        assert fakes.events == ["pg open", "pg ensure_schema", "qdrant open", "qdrant ensure_collection"]
    assert fakes.events[-2:] == ["qdrant close", "pg close"]
    assert fakes.probes == [{"connect_timeout": stores_module.POSTGRES_PROBE_TIMEOUT_SECONDS}]


def test_services_go_on_without_a_ready_qdrant(
    fakes: FakeStoreClasses, caplog: pytest.LogCaptureFixture
) -> None:
    fakes.failures["qdrant ensure_collection"] = ConnectionError("connection refused")

    with caplog.at_level(logging.WARNING):
        stores = open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.SERVICE)

    assert "qdrant is not ready (connection refused); continuing" in caplog.text
    assert "qdrant close" not in fakes.events
    stores.close()


def test_services_stop_when_postgres_fails(fakes: FakeStoreClasses) -> None:
    fakes.failures["pg ensure_schema"] = RuntimeError("schema mismatch")

    with pytest.raises(RuntimeError, match="schema mismatch"):
        open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.SERVICE)

    assert fakes.events == ["pg open", "pg ensure_schema", "pg close"]


def test_local_mode_stops_when_qdrant_fails_and_closes_both(fakes: FakeStoreClasses) -> None:
    fakes.failures["qdrant ensure_collection"] = RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.LOCAL)

    assert fakes.events[-2:] == ["qdrant close", "pg close"]


def test_an_audit_creates_nothing_and_probes_postgres_first(fakes: FakeStoreClasses) -> None:
    with open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.AUDIT):
        pass

    assert fakes.events == ["pg open", "pg schema_exists", "qdrant open", "qdrant close", "pg close"]
    assert fakes.probes == [{"connect_timeout": stores_module.POSTGRES_PROBE_TIMEOUT_SECONDS}]


def test_an_audit_of_a_collection_postgres_does_not_hold_opens_no_qdrant(fakes: FakeStoreClasses) -> None:
    fakes.failures["pg absent"] = LookupError()

    with pytest.raises(ConfigurationError, match=r"^PostgreSQL holds no collection 'docs' in schema 'faro'"):
        open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.AUDIT)

    assert fakes.events == ["pg open", "pg schema_exists", "pg close"]


def test_an_audit_of_an_unreachable_postgres_opens_nothing(fakes: FakeStoreClasses) -> None:
    fakes.failures["pg probe"] = psycopg.OperationalError("connection refused\n  is the server running?")

    with pytest.raises(StoreUnavailable) as raised:
        open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.AUDIT)

    assert str(raised.value) == "cannot reach PostgreSQL: connection refused is the server running?"
    assert fakes.events == []


def test_an_audit_of_a_locked_qdrant_folder_closes_postgres(fakes: FakeStoreClasses) -> None:
    fakes.failures["qdrant open"] = RuntimeError("Storage folder is already accessed by another instance")

    with pytest.raises(StoreUnavailable, match=r"^cannot open Qdrant: Storage folder is already accessed"):
        open_stores(POSTGRES, QDRANT, COLLECTION, StoreAccess.AUDIT)

    assert fakes.events == ["pg open", "pg schema_exists", "qdrant open", "pg close"]
