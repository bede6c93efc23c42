"""A uvicorn server on a background thread, on loopback (local model endpoints, tests)."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from faro_workloads.api.header_timeout import HeaderTimeoutHttpToolsProtocol
from faro_workloads.contract.shutdown import HTTP_DRAIN_SECONDS


class ServerStartError(RuntimeError):
    """The server thread did not come up."""


class GracefulServer(uvicorn.Server):
    """A uvicorn server whose SIGINT/SIGTERM ends :meth:`run` normally.

    Plain uvicorn re-raises the captured signal after its graceful shutdown, which kills the process before
    the caller can stop what it started (an embedded PostgreSQL, the outbox drainer). Here the signal only
    stops serving; the caller cleans up and exits with status 0.
    """

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:
        server = self

        @contextlib.contextmanager
        def handlers() -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            originals = {
                sig: signal.signal(sig, server.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

        return handlers()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def uvicorn_config(
    app: FastAPI, host: str, port: int, log_level: str = "info", lifespan: str = "auto"
) -> uvicorn.Config:
    """uvicorn settings shared by every Faro HTTP service: HTTP/1.1 with a deadline for request headers
    (the body's pace is bounded by :class:`~faro_workloads.api.body_limit.BodySizeLimit`)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan=lifespan,
        timeout_graceful_shutdown=HTTP_DRAIN_SECONDS,
        http=HeaderTimeoutHttpToolsProtocol,
    )


class BackgroundServer:
    """A uvicorn server on a thread (used for the local model endpoint)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn_config(app, host, port, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, name=f"uvicorn-{port}", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        stop = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if self._server.started or not self._thread.is_alive():
                break
            stop.wait(0.05)
        if not self._server.started:
            raise ServerStartError(f"the server at {self.url} did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
