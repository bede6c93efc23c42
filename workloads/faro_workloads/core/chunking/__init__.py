"""Cutting a document's canonical text into chunks of at most ``size`` tokens.

Strategies (``ChunkingConfig.strategy``): ``fixed`` token windows (the baseline), ``recursive`` cuts at
paragraphs, lines, sentences and words, ``markdown`` sections under their heading path, ``sentence``
packing of whole sentences, and ``semantic`` sections cut where neighbouring sentences' embeddings drift
apart (it needs the pipeline's embedder). Every chunk is a :class:`~faro_workloads.core.documents.ChunkSpan`
whose ``text == source[start:end]``, of at most ``size`` tokens and at most ``size * MAX_CHARS_PER_TOKEN``
characters (:mod:`~faro_workloads.core.chunking.size_bounds`: one token can be a 2 MB run of a letter).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from faro_workloads.contract.index_profile import ChunkingIdentity
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking.context import label_context
from faro_workloads.core.chunking.fixed import fixed_chunks
from faro_workloads.core.chunking.markdown import markdown_chunks
from faro_workloads.core.chunking.recursive import recursive_chunks
from faro_workloads.core.chunking.semantic import semantic_chunks
from faro_workloads.core.chunking.sentence import sentence_chunks
from faro_workloads.core.chunking.sentence_boundaries import load_sentence_splitter
from faro_workloads.core.chunking.size_bounds import MAX_CHARS_PER_TOKEN, max_chars
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.embedding.base import Embedder
from faro_workloads.core.text_extraction import SourceFormat
from faro_workloads.core.tokenization import TextMeasure, TokenCounter, load_token_counter
from faro_workloads.errors import ConfigurationError

__all__ = ["MAX_CHARS_PER_TOKEN", "STRATEGIES", "Chunker", "max_chars"]

Strategy = Callable[[TextMeasure, int, int], list[ChunkSpan]]

STRATEGIES: dict[str, Strategy] = {
    "fixed": fixed_chunks,
    "recursive": recursive_chunks,
    "markdown": markdown_chunks,
    "sentence": sentence_chunks,
}


class Chunker:
    """Chunks texts as ``config`` says, measuring sizes with ``counter`` (default: ``config.tokenizer``).

    Chunks come in document order; none is empty or starts or ends with whitespace; each holds at most
    ``config.size`` tokens (as the whole text's tokenization counts them) and at most
    ``max_chars(config.size)`` characters, and shares at most ``config.overlap`` tokens with its
    predecessor.
    """

    def __init__(
        self, config: ChunkingConfig, counter: TokenCounter | None = None, embedder: Embedder | None = None
    ) -> None:
        """``embedder``: the pipeline's model, which the ``semantic`` strategy embeds sentences with (the
        others ignore it). Raises :class:`ConfigurationError` for ``semantic`` without one."""
        self.config = config
        self.counter = counter if counter is not None else load_token_counter(config.tokenizer)
        if config.strategy == "semantic":
            if embedder is None:
                raise ConfigurationError("the semantic chunking strategy needs the pipeline's embedder")
            self._strategy: Strategy = partial(
                semantic_chunks, embed=embedder.embed, percentile=config.semantic_percentile
            )
        else:
            self._strategy = STRATEGIES[config.strategy]

    def prepare(self) -> Chunker:
        """Load now what the first document would otherwise wait for (the sentence splitter's import, about
        a second, for every strategy but ``fixed``); services call it at start. Returns the chunker."""
        if self.config.strategy != "fixed":
            load_sentence_splitter()
        return self

    @property
    def identity(self) -> ChunkingIdentity:
        """How this chunker cuts, as the index profile records it (the tokenizer as resolved)."""
        config = self.config
        return ChunkingIdentity(
            strategy=config.strategy,
            size=config.size,
            overlap=config.overlap,
            tokenizer=self.counter.identity,
            context=None if config.context == "none" else config.context,
            semantic_percentile=config.semantic_percentile if config.strategy == "semantic" else None,
        )

    def chunk(self, text: str, fmt: SourceFormat = "text") -> list[ChunkSpan]:
        """The chunks of ``text``, the canonical text of a document (see ``extract_text``).

        ``fmt`` is the format the text was extracted from; every strategy works on all of them (HTML
        extraction writes Markdown heading lines, so the markdown strategy finds HTML headings too). With
        chunk context on, each span's ``headings`` metadata is its heading path (see
        :mod:`~faro_workloads.core.chunking.context`).
        """
        if not text or text.isspace():
            return []
        measure = self.counter.measure(text)
        spans = self._strategy(measure, self.config.size, self.config.overlap)
        if self.config.context != "none":
            label_context(text, spans, with_lead=self.config.context == "title-lead-headings")
        return spans
