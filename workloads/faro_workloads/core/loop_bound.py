"""Resources that belong to one event loop (an asynchronous connection pool, an asynchronous HTTP client):
opened on first use in the loop that uses them, one per loop, closed in their own loop
(:class:`LoopBound`); and :func:`run_blocking`, which runs a coroutine for blocking code on one background
loop shared by the process, so that the resources it opens live as long as their owners.

A service has one loop and so one of each; a test that serves an app twice (two ``TestClient`` contexts,
two loops) gets a fresh one in the second loop instead of one whose loop is gone.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSE_TIMEOUT_SECONDS = 10.0

_INSTANCES: weakref.WeakSet[LoopBound[Any]] = weakref.WeakSet()


class LoopBound(Generic[T]):
    """``open()`` once per running loop (concurrent first uses share one opening); ``close(resource)``
    when the owner closes."""

    def __init__(
        self, name: str, open: Callable[[], Awaitable[T]], close: Callable[[T], Awaitable[None]]
    ) -> None:
        self._name = name
        self._open = open
        self._close = close
        self._opening: dict[asyncio.AbstractEventLoop, asyncio.Future[T]] = {}
        self._lock = threading.Lock()
        self._closed = False
        _INSTANCES.add(self)

    async def get(self) -> T:
        """This loop's resource, opened now if it has none (a failed opening is tried again next time)."""
        loop = asyncio.get_running_loop()
        opening = self._opening.get(loop)
        if opening is None or _failed(opening):
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"{self._name} is closed")
                self._forget_closed_loops()
                opening = loop.create_task(self._open_resource())
                self._opening[loop] = opening
        return await asyncio.shield(opening)

    async def _open_resource(self) -> T:
        return await self._open()

    def _forget_closed_loops(self) -> None:
        """Drop what belonged to loops that have ended (their sockets go with them); the caller locks."""
        for loop in [loop for loop in self._opening if loop.is_closed()]:
            log.debug("%s: forgetting the resource of an ended event loop", self._name)
            del self._opening[loop]

    async def aclose(self) -> None:
        """Close this loop's resource (call from the loop, e.g. at the app's shutdown)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            opening = self._opening.pop(loop, None)
        await self._close_opened(opening)

    async def _close_opened(self, opening: asyncio.Future[T] | None) -> None:
        if opening is None:
            return
        try:
            resource = await opening
        except Exception:  # it never opened: nothing to close
            return
        await self._close(resource)

    def close(self) -> None:
        """Close every loop's resource, from any thread: in its loop while that runs, or in a loop of the
        closing thread when its own loop stopped without ending; a resource whose loop has ended is
        dropped. Later :meth:`get` calls fail."""
        with self._lock:
            self._closed = True
            openings, self._opening = self._opening, {}
        for loop, opening in openings.items():
            try:
                if loop.is_closed():
                    continue
                if loop.is_running():
                    if _running_in(loop):
                        log.warning("%s: close() called inside its loop; use aclose()", self._name)
                        continue
                    done = asyncio.run_coroutine_threadsafe(self._close_opened(opening), loop)
                    done.result(timeout=CLOSE_TIMEOUT_SECONDS)
                else:
                    loop.run_until_complete(self._close_opened(opening))
            except Exception as exc:  # closing is best effort: the process or the test goes on
                log.warning("%s: could not close cleanly: %s", self._name, exc)


async def close_loop_resources() -> None:
    """Close what every :class:`LoopBound` opened in the running loop (an app's shutdown: the loop ends
    next)."""
    for bound in list(_INSTANCES):
        await bound.aclose()


def _failed(opening: asyncio.Future[T]) -> bool:
    return opening.done() and (opening.cancelled() or opening.exception() is not None)


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _BackgroundLoop:
    """The process's background loop, on a daemon thread started on first use (it never blocks exit)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="faro-background-loop", daemon=True).start()
                self._loop = loop
            return self._loop


_BACKGROUND = _BackgroundLoop()


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """``coroutine``'s result, run on the background loop while the calling thread waits (for blocking code:
    the CLI, tools, tests). Not from a coroutine on that loop, which would wait for itself."""
    loop = _BACKGROUND.get()
    if _running_in(loop):
        coroutine.close()
        raise RuntimeError("run_blocking called from the background loop itself")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()
