"""``--profile``: a pyinstrument profile of one measured block, printed to stderr (no file is written)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def maybe_profile(enabled: bool) -> Iterator[None]:
    """Profile the block when ``enabled`` (needs the [bench] extra), else do nothing."""
    if not enabled:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        sys.stderr.write(profiler.output_text(unicode=True, color=False, show_all=False))
