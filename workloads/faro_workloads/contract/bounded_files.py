"""Reading a small file the settings name (a secret, a golden-queries file) without trusting its size."""

from __future__ import annotations

from pathlib import Path


class UnreadableFile(ValueError):
    """A file that is missing, unreadable or larger than its limit; the message names it and why."""


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path`` (``what`` names it in errors), at most ``limit`` of them: a larger file is an
    :class:`UnreadableFile`, found after reading ``limit + 1`` bytes, never more."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as error:
        raise UnreadableFile(f"{what} {path}: cannot read: {error.strerror or error}") from None
    if len(data) > limit:
        raise UnreadableFile(f"{what} {path}: larger than {limit} bytes")
    return data
