"""The client of one :class:`~faro_workloads.core.stores.qdrant.QdrantStore`: qdrant-client for a Qdrant
server (``QdrantConfig.url``); for local mode (``QdrantConfig.path``, a folder or ``":memory:"``) Qdrant Edge
through :class:`~faro_workloads.core.stores.edge_client.EdgeClient` (``local_engine: edge``, the default) or
qdrant-client's own local mode (``python``).

Local mode is not thread-safe: there every call holds one lock, which also covers replacing the client (what
:class:`~faro_workloads.core.stores.qdrant_compaction.LocalCompaction` does for the Python engine, whose
deleted points never leave memory). A server client is used without.

For the query service's event loop the connection also keeps, made on first use, an asynchronous client per
loop (a server) or one thread that runs the blocking calls (local mode, where the lock admits one at a time).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

from qdrant_client import AsyncQdrantClient, QdrantClient
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

from faro_workloads.contract.settings import QdrantConfig
from faro_workloads.core.loop_bound import LoopBound
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.errors import ConfigurationError, one_line

if TYPE_CHECKING:
    from faro_workloads.core.stores.edge_client import EdgeClient

    QdrantApi = QdrantClient | EdgeClient
    """What a store calls: qdrant-client, or the same calls answered by Qdrant Edge."""

BACKEND = "qdrant"


def open_client(config: QdrantConfig) -> QdrantApi:
    """A client for ``config``'s server or local-mode location."""
    if config.url is not None:
        # No version probe at construction: the store must come up even while Qdrant is down.
        return QdrantClient(
            url=config.url,
            api_key=config.api_key.get_secret_value() if config.api_key else None,
            timeout=config.timeout_seconds,
            check_compatibility=False,
        )
    if config.local_engine == "edge":
        # Imported here: Qdrant Edge comes with the `local` extra, which a cluster's images leave out.
        try:
            from faro_workloads.core.stores.edge_client import EdgeClient, EdgeUnavailable
        except ImportError as exc:
            raise ConfigurationError(
                f"Qdrant local mode on the edge engine needs qdrant-edge-py ({one_line(exc)}): install "
                "faro's `local` extra, or set local_engine: python"
            ) from None

        try:
            return EdgeClient(None if config.path == ":memory:" else config.path)
        except EdgeUnavailable as exc:
            raise LocalDataUnreadable(f"Qdrant's local data in {config.path}: {exc}") from None
    if config.path == ":memory:":
        return QdrantClient(location=":memory:")
    try:
        return QdrantClient(path=config.path)
    except ValueError as exc:  # its meta.json is not JSON (or not Qdrant's)
        meta = f"{config.path}/meta.json"
        raise LocalDataUnreadable(
            f"Qdrant's local data in {config.path} cannot be read ({meta}: {one_line(exc)}): a damaged "
            "folder; move it aside (local mode rebuilds it from PostgreSQL)"
        ) from None
    except RuntimeError as exc:  # "already accessed by another instance of Qdrant client"
        raise LocalDataUnreadable(
            f"Qdrant's local data in {config.path} is in use: {one_line(exc)}"
        ) from None


class LocalDataUnreadable(ConfigurationError):
    """qdrant-client's local mode cannot open its folder (damaged, or held by another process)."""


async def _open_async_client(config: QdrantConfig) -> AsyncQdrantClient:
    """An asynchronous client for ``config``'s server (made in the loop that will use it)."""
    return AsyncQdrantClient(
        url=config.url,
        api_key=config.api_key.get_secret_value() if config.api_key else None,
        timeout=config.timeout_seconds,
        check_compatibility=False,
    )


async def _close_async_client(client: AsyncQdrantClient) -> None:
    await client.close()


class QdrantConnection:
    """The client (``client``, replaced by compaction in Python local mode) and, in local mode, its
    ``lock``."""

    def __init__(self, config: QdrantConfig) -> None:
        self._config = config
        self.local = config.url is None
        self.compacts = self.local and config.local_engine == "python"
        """Whether deleted points stay in memory until :class:`LocalCompaction` rebuilds the collection."""
        self.client = open_client(config)
        self.lock = threading.RLock() if self.local else None
        self._async_clients: LoopBound[AsyncQdrantClient] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._made = threading.Lock()

    @property
    def folder(self) -> str | None:
        """The local-mode folder (None for a server or ``:memory:``)."""
        return self._config.path if self.local and self._config.path != ":memory:" else None

    @contextmanager
    def call(self, operation: str) -> Iterator[QdrantApi]:
        """Time ``operation`` and, in local mode, hold the lock; yields the client to call."""
        with STORE_SECONDS.labels(BACKEND, operation).time(), self.lock or nullcontext():
            yield self.client

    def async_clients(self) -> LoopBound[AsyncQdrantClient]:
        """The server's asynchronous clients, one per event loop."""
        if self.local:
            raise RuntimeError("local mode has no asynchronous client: use executor()")
        with self._made:
            if self._async_clients is None:
                self._async_clients = LoopBound(
                    "qdrant-async", lambda: _open_async_client(self._config), _close_async_client
                )
            return self._async_clients

    def executor(self) -> Executor:
        """The one thread that runs local mode's calls for an event loop (it takes the lock anyway)."""
        with self._made:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-local")
            return self._executor

    def close(self) -> None:
        """Close the client (local mode releases its folder lock) and the asynchronous path's."""
        with self._made:
            clients, executor = self._async_clients, self._executor
        if clients is not None:
            clients.close()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        with self.lock or nullcontext():
            self.client.close()

    def replace(self, client: QdrantApi) -> None:
        """Use ``client`` from now on and close the one it replaces; the caller holds the lock."""
        old, self.client = self.client, client
        old.close()

    @retry(
        retry=retry_if_exception_type(RuntimeError),  # the folder lock, should another process take it
        stop=stop_after_attempt(5),
        wait=wait_fixed(0.2),
        reraise=True,
    )
    def reopen(self) -> None:
        """Open a new client on the same location (after the old one is closed); the caller holds the lock."""
        self.client = open_client(self._config)
