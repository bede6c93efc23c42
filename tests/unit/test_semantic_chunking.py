"""The semantic strategy: where it cuts (a drop in neighbouring sentences' similarity), what it embeds to
find out (each sentence with its neighbours, counted), the bounds it keeps, and how the profile records it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.chunking.semantic import breakpoints, neighbour_distances
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.metrics import SENTENCE_EMBEDDINGS
from faro_workloads.core.profile_runtime import ProfileRuntime
from faro_workloads.core.tokenization import CharTokenCounter
from faro_workloads.errors import ConfigurationError

TOPICS = {
    "storage": ["postgres", "table", "index", "vacuum", "disk"],
    "network": ["packet", "router", "latency", "socket", "port"],
    "kitchen": ["onion", "pan", "oven", "salt", "butter"],
}


class TopicEmbedder(HashingEmbedder):
    """Embeds a text as how often it names each topic's words: sentences of one topic are close, and a
    window that straddles two topics sits between them. Records what it was asked to embed."""

    def __init__(self) -> None:
        super().__init__(dimension=len(TOPICS))
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array(
            [[sum(text.count(word) for word in words) + 0.01 for words in TOPICS.values()] for text in texts],
            dtype=np.float32,
        )


def _topic_text(order: list[str], sentences_each: int = 6) -> str:
    paragraphs = []
    for topic in order:
        words = TOPICS[topic]
        sentences = [
            f"The {words[i % 5]} and the {words[(i + 2) % 5]} matter here, case {i}."
            for i in range(sentences_each)
        ]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def _chunker(embedder: HashingEmbedder, size: int = 200, percentile: int = 80) -> Chunker:
    config = ChunkingConfig(
        strategy="semantic", tokenizer="chars", size=size, overlap=0, semantic_percentile=percentile
    )
    return Chunker(config, CharTokenCounter(), embedder)


def _topics_of(text: str) -> set[str]:
    return {topic for topic, words in TOPICS.items() if any(word in text for word in words)}


def test_it_cuts_where_the_subject_changes() -> None:
    text = _topic_text(["storage", "network", "kitchen"])
    chunks = _chunker(TopicEmbedder()).chunk(text)
    assert [_topics_of(chunk.text) for chunk in chunks] == [{"storage"}, {"network"}, {"kitchen"}]
    assert all(chunk.text == text[chunk.start : chunk.end] for chunk in chunks)
    assert all(chunk.metadata["strategy"] == "semantic" for chunk in chunks)


def test_a_section_larger_than_a_chunk_is_packed_within_the_size() -> None:
    text = _topic_text(["storage", "network"], sentences_each=40)
    counter = CharTokenCounter()
    chunks = _chunker(TopicEmbedder(), size=100).chunk(text)
    measure = counter.measure(text)
    assert len(chunks) >= 10
    assert all(measure.tokens(chunk.start, chunk.end) <= 100 for chunk in chunks)
    assert all(len(_topics_of(chunk.text)) == 1 for chunk in chunks)  # packing stays inside a section


def test_each_sentence_is_embedded_once_with_its_neighbours_and_counted() -> None:
    text = "Alpha one is here. Beta two is there. Gamma three is near. Delta four is far."
    embedder = TopicEmbedder()
    before = SENTENCE_EMBEDDINGS._value.get()
    _chunker(embedder).chunk(text)
    assert embedder.calls == [
        [
            "Alpha one is here. Beta two is there.",
            "Alpha one is here. Beta two is there. Gamma three is near.",
            "Beta two is there. Gamma three is near. Delta four is far.",
            "Gamma three is near. Delta four is far.",
        ]
    ]
    assert SENTENCE_EMBEDDINGS._value.get() - before == 4


def test_short_texts_are_not_embedded_and_small_sections_join_their_neighbours() -> None:
    embedder = TopicEmbedder()
    chunks = _chunker(embedder).chunk("One sentence only. And a second.")
    assert [chunk.text for chunk in chunks] == ["One sentence only. And a second."]
    assert embedder.calls == []
    # A one-sentence aside between two topics is below a quarter of a chunk: it joins the next section.
    text = _topic_text(["storage"]) + "\n\nThe onion is salted.\n\n" + _topic_text(["network"])
    chunks = _chunker(TopicEmbedder(), size=400).chunk(text)
    assert "The onion is salted." not in [chunk.text for chunk in chunks]
    assert any("The onion is salted." in chunk.text for chunk in chunks)


def test_breakpoints_are_the_gaps_above_the_percentile() -> None:
    def cuts(vectors: list[np.ndarray], percentile: int) -> list[int]:
        return breakpoints(neighbour_distances(vectors), percentile)

    same = [np.array([1.0, 0.0])] * 5
    assert cuts(same, 90) == []  # nothing stands out
    turn = [np.array([1.0, 0.0])] * 3 + [np.array([0.0, 1.0])] * 3
    assert cuts(turn, 90) == [3]
    drift = [np.array([1.0, step**2 / 10]) for step in range(10)]  # every gap a little different
    assert len(cuts(drift, 50)) == 4  # above the median of 9 gaps
    assert cuts([np.array([1.0, 0.0])], 90) == []
    assert neighbour_distances([np.zeros(2), np.ones(2)]).tolist() == [1.0]  # no direction, no error


def test_it_needs_the_pipelines_embedder() -> None:
    with pytest.raises(ConfigurationError, match="semantic chunking strategy needs"):
        Chunker(ChunkingConfig(strategy="semantic", tokenizer="chars"))


def test_the_profile_records_the_percentile_only_for_the_semantic_strategy() -> None:
    embedder = HashingEmbedder(dimension=8)
    semantic = Chunker(
        ChunkingConfig(strategy="semantic", tokenizer="chars", semantic_percentile=95), None, embedder
    )
    assert semantic.identity.semantic_percentile == 95
    recursive = Chunker(
        ChunkingConfig(strategy="recursive", tokenizer="chars", semantic_percentile=95), None, embedder
    )
    assert recursive.identity.semantic_percentile is None
    other = Chunker(ChunkingConfig(strategy="recursive", tokenizer="chars"))
    assert recursive.identity.fingerprint == other.identity.fingerprint  # the setting does not matter there
    at_90 = Chunker(ChunkingConfig(strategy="semantic", tokenizer="chars"), None, embedder).identity
    assert at_90.fingerprint != semantic.identity.fingerprint


def test_a_stored_profile_gets_a_chunker_that_cuts_as_it_says() -> None:
    """The runtime rebuilds another generation's chunker from its identity: strategy, context and
    percentile as stored, and a semantic one embeds with that profile's model."""
    configured = Chunker(ChunkingConfig(tokenizer="chars"))
    other_model = TopicEmbedder()
    runtime = ProfileRuntime(configured, HashingEmbedder(dimension=3), lambda identity: other_model)
    stored_chunker = Chunker(
        ChunkingConfig(
            strategy="semantic", tokenizer="chars", context="title-headings", semantic_percentile=80
        ),
        None,
        other_model,
    )
    stored = runtime.profile.model_copy(
        update={
            "chunking": stored_chunker.identity,
            "embedding": other_model.identity.model_copy(update={"model": "topics"}),
        }
    )
    rebuilt = runtime.chunker_for(stored)
    assert rebuilt.identity == stored_chunker.identity
    assert rebuilt.config.context == "title-headings"
    rebuilt.chunk(_topic_text(["storage", "kitchen"]))
    assert other_model.calls  # the stored profile's model found the breakpoints
    plain = runtime.profile.model_copy(
        update={"chunking": Chunker(ChunkingConfig(tokenizer="chars", context="none")).identity}
    )
    assert runtime.chunker_for(plain).config.context == "none"
