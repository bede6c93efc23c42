"""A circuit breaker that lets calls run concurrently.

The query path asks Qdrant from many threads at once. pybreaker, which it used before, holds its lock for
the whole protected call (its documented thread-safety model: one call at a time per breaker), so every
query to Qdrant waited for the one before it — a service answering 50 clients asked Qdrant one query at a
time. The alternatives on PyPI are either built the same way or not thread-safe at all. This one keeps
pybreaker's rules and holds its lock only to read and change the state, never during the call:

- **closed**: calls go through; ``failures`` consecutive failures open the circuit (a success resets the
  count);
- **open**: calls are refused (:class:`CircuitOpen`) for ``reset_seconds``;
- **half-open** (then): one trial call goes through while the others are still refused; its success
  closes the circuit, its failure opens it again for another ``reset_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum


class CircuitOpen(Exception):
    """The circuit is open: the call was not made."""


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """See the module docstring. ``clock``: seconds, monotonic (tests pass their own)."""

    def __init__(
        self,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        """``on_change(opened)`` is told when the circuit opens (True) and when it closes again (False)."""
        if failures < 1:
            raise ValueError("a circuit needs at least one failure to open")
        self._max_failures = failures
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self._on_change = on_change

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at < self._reset_seconds:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Run the block as a protected call: raises :class:`CircuitOpen` without running it when the
        circuit refuses calls; an exception out of the block counts as a failure (and is re-raised)."""
        trial = self._admit()
        try:
            yield
        except BaseException:
            self._record(success=False, trial=trial)
            raise
        self._record(success=True, trial=trial)

    def _admit(self) -> bool:
        """Whether the call may go (raises :class:`CircuitOpen` if not); True when it is the trial."""
        with self._lock:
            state = self._state()
            if state is CircuitState.CLOSED:
                return False
            if state is CircuitState.HALF_OPEN and not self._trial_running:
                self._trial_running = True
                return True
        raise CircuitOpen("the circuit is open: recent calls failed")

    def _record(self, *, success: bool, trial: bool) -> None:
        with self._lock:
            was_open = self._opened_at is not None
            if trial:
                self._trial_running = False
            if success:
                if trial or self._opened_at is None:
                    self._failures, self._opened_at = 0, None
            elif trial:
                self._opened_at = self._clock()
            elif self._opened_at is None:
                self._failures += 1
                if self._failures >= self._max_failures:
                    self._opened_at = self._clock()
            now_open = self._opened_at is not None
        if now_open != was_open and self._on_change is not None:
            self._on_change(now_open)
