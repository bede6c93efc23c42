"""Contextual chunks: every strategy labels its chunks with their heading path, the model is sent the
document's title and that path before the text, and HTML uploads carry their <title> as metadata."""

from __future__ import annotations

from typing import get_args

import pytest

from faro_workloads.contract.chunking import ChunkingStrategy
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunk_building import build_chunks, embed_spans
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.chunking.context import (
    MAX_CONTEXT_CHARS,
    chunk_context,
    chunk_contexts,
    document_lead,
    heading_sections,
)
from faro_workloads.core.chunking.markdown import markdown_sections
from faro_workloads.core.documents import CONTEXT_KEY, ChunkSpan, embedded_text
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.text_extraction import ExtractedDocument, extract_document

GUIDE = (
    "Intro before any heading.\n\n"
    "# Install\n\nDownload the package and unpack it somewhere.\n\n"
    "## On Linux\n\nUse the tarball; it needs glibc 2.31 or newer to run.\n\n"
    "```\n# not a heading: a comment in code\nmake install\n```\n\n"
    "# Usage\n\nRun the tool with --help to list its options."
)


def _chunker(strategy: str, context: str = "title-headings") -> Chunker:
    config = ChunkingConfig(strategy=strategy, tokenizer="chars", size=16, overlap=0, context=context)
    return Chunker(config, embedder=HashingEmbedder(dimension=32))


@pytest.mark.parametrize("strategy", get_args(ChunkingStrategy))
def test_every_strategy_labels_each_chunk_with_the_headings_above_its_start(strategy: str) -> None:
    install, linux, usage = (GUIDE.index(line) for line in ("# Install", "## On Linux", "# Usage"))
    spans = _chunker(strategy).chunk(GUIDE, "markdown")
    assert len(spans) > 4
    for span in spans:
        if span.start < install:
            expected = []
        elif span.start < linux:
            expected = ["Install"]
        elif span.start < usage:
            expected = ["Install", "On Linux"]  # the "# ..." line in the code block is no heading
        else:
            expected = ["Usage"]
        assert span.metadata["headings"] == expected, span


def test_without_context_the_chunks_are_what_they_were() -> None:
    spans = _chunker("recursive", context="none").chunk(GUIDE, "markdown")
    assert all("headings" not in span.metadata for span in spans)


def test_the_context_is_the_title_then_the_headings_without_repeating_the_title() -> None:
    assert chunk_context("git-add(1) Manual Page", ["git-add(1) Manual Page", "OPTIONS"]) == (
        "git-add(1) Manual Page > OPTIONS"
    )
    assert chunk_context("", ["Install", "", "On Linux"]) == "Install > On Linux"
    assert chunk_context("", []) == ""
    assert len(chunk_context("t" * 1000, ["h"])) == MAX_CONTEXT_CHARS


def test_the_model_is_sent_context_and_text_and_the_chunk_keeps_its_own_text() -> None:
    spans = _chunker("recursive").chunk(GUIDE, "markdown")
    sent: list[str] = []

    class Recording(HashingEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            sent.extend(texts)
            return super().embed(texts)

    metadata = {"title": "  The   Guide ", "team": "docs"}
    vectors, contexts = embed_spans(Recording(dimension=8), spans, metadata, with_context=True)
    chunks = build_chunks("guide", "d" * 64, metadata, spans, vectors, "m", contexts)

    glibc = next(chunk for chunk in chunks if "glibc" in chunk.text)
    assert glibc.metadata[CONTEXT_KEY] == "The Guide > Install > On Linux"
    assert glibc.metadata["team"] == "docs" and glibc.text.startswith("Use the tarball")
    assert embedded_text(glibc.metadata[CONTEXT_KEY], glibc.text) in sent
    assert sent == [embedded_text(c.metadata.get(CONTEXT_KEY, ""), c.text) for c in chunks]


def test_context_off_sends_the_bare_text_and_drops_a_stale_context_of_a_reused_span() -> None:
    span = ChunkSpan("text", 0, 4, {"headings": ["H"], CONTEXT_KEY: "old"})
    assert chunk_contexts([span], {"title": "T"}, with_context=False) == [""]
    [chunk] = build_chunks("d", "h" * 64, {}, [span], HashingEmbedder(dimension=8).embed(["text"]), "m", [""])
    assert CONTEXT_KEY not in chunk.metadata


def test_html_title_becomes_metadata_unless_the_upload_names_one() -> None:
    page = b"<html><head><title>Write-Ahead\n  Logging</title></head><body><p>WAL text</p></body></html>"
    extracted = extract_document(page, "html")
    assert extracted == ExtractedDocument("WAL text", "Write-Ahead Logging")
    assert extracted.metadata_with_title({"team": "db"}) == {"title": "Write-Ahead Logging", "team": "db"}
    assert extracted.metadata_with_title({"title": "Mine"}) == {"title": "Mine"}
    assert extract_document(b"# Heading\n\ntext", "markdown").metadata_with_title({}) == {}
    assert extract_document(b"<p>no title</p>", "html").title == ""


def test_the_lead_is_the_first_prose_paragraph_after_the_first_heading_and_joins_the_context() -> None:
    page = (
        "Small. Fast. Reliable.\n\n- Home\n\n# git-add(1) Manual Page\n\n## NAME\n\n"
        "git-add - Add file contents to the index\n\n## OPTIONS\n\n```\ngit add -p\n```\n\n"
        "-p, --patch Interactively choose hunks of patch between the index and the work tree."
    )
    spans = _chunker("recursive", context="title-lead-headings").chunk(page, "html")
    assert {span.metadata["lead"] for span in spans} == {"git-add - Add file contents to the index"}
    patch = next(span for span in spans if "--patch" in span.text)
    [context] = chunk_contexts([patch], {"title": "git-add(1) Manual Page"}, with_context=True)
    assert context == "git-add(1) Manual Page > git-add - Add file contents to the index > OPTIONS"

    assert document_lead("no heading here, just one plain paragraph\n\nand another", []) == (
        "no heading here, just one plain paragraph"
    )
    assert document_lead(" ".join(["word"] * 100), []) == " ".join(["word"] * 30)
    assert (
        document_lead("# Only\n\n- a list\n\ntwo words", markdown_sections("# Only\n\n- a list\n\ntwo words"))
        == ""
    )
    without = _chunker("recursive", context="title-headings").chunk(page, "html")
    assert all("lead" not in span.metadata for span in without)


def test_heading_sections_follow_atx_headings_outside_fences_like_the_markdown_parse() -> None:
    text = (
        "intro\n\n# A\n\ntext\n\n```\n# not a heading\n```\n\n## B ##\n\nmore\n\n"
        "~~~\n## no\n~~~\n\n# C\n\nend"
    )
    sections = heading_sections(text)
    assert [s.headings for s in sections] == [(), ("A",), ("A", "B"), ("C",)]
    assert [(s.start, s.end) for s in sections] == [(s.start, s.end) for s in markdown_sections(text)]
    assert heading_sections("no headings") == markdown_sections("no headings")
