"""What a service's build opened, closed last opened first; the bundles the builds return.

A build registers each thing as it opens it (:meth:`Resources.add`) inside
:meth:`Resources.closed_on_error`, so a build that fails half-way closes what it had opened and raises its
own error. The bundle it returns closes the rest (:meth:`Service.close`, or the end of a ``with`` block).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar

from fastapi import FastAPI

from faro_workloads.background_server import GracefulServer, uvicorn_config

log = logging.getLogger(__name__)


class Closable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T")
C = TypeVar("C", bound=Closable)


class Resources:
    """Things to close, in the reverse of the order they were added."""

    def __init__(self) -> None:
        self._closers: list[tuple[str, Callable[[], object]]] = []

    def add(self, opened: C) -> C:
        """Close ``opened`` (with its ``close()``) when the resources are closed; returns it."""
        self._closers.append((type(opened).__name__, opened.close))
        return opened

    def add_closer(self, name: str, close: Callable[[], object]) -> None:
        """Call ``close`` when the resources are closed (for things whose stop is not ``close()``)."""
        self._closers.append((name, close))

    def close(self, raise_errors: bool = True) -> None:
        """Close everything, last added first. Every closer runs even when an earlier one raises; each
        failure is logged, and the first is raised once all have run (unless ``raise_errors`` is false:
        closing because of another error must not hide it)."""
        errors: list[Exception] = []
        while self._closers:
            name, close = self._closers.pop()
            try:
                close()
            except Exception as exc:
                log.warning("error while closing %s: %s", name, exc)
                errors.append(exc)
        if errors and raise_errors:
            raise errors[0]

    @contextmanager
    def closed_on_error(self) -> Iterator[Resources]:
        """Close everything added so far when the block raises, then let its error through."""
        try:
            yield self
        except BaseException:
            self.close(raise_errors=False)
            raise


class Service:
    """A built service: :meth:`close` (or leaving a ``with`` block) closes what its build opened."""

    resources: Resources

    def close(self) -> None:
        self.resources.close()

    def __enter__(self: T) -> T:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.resources.close(raise_errors=exc is None)


@dataclass
class HttpService(Service):
    """An HTTP service (chunker, query): its app, served until SIGINT/SIGTERM."""

    app: FastAPI
    resources: Resources

    def serve(self, host: str, port: int) -> None:
        GracefulServer(uvicorn_config(self.app, host, port)).run()
