"""The embedders and chunkers of index profiles other than the configured one.

A process is configured with one profile (its settings: the wanted one). While a new generation builds,
the live generation still has the previous profile: queries must embed questions with the live model and
ingest must cut and embed new uploads as the live generation does. :class:`ProfileRuntime` gives the
embedder and chunker of any registered profile: the configured ones when they match; otherwise an embedder
built from the stored identity with this process's connection settings (the same gateway, keys and
timeouts; another model name), and a chunker whose tokenizer is found among the ones installed here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from faro_workloads.contract.chunking import DEFAULT_SEMANTIC_PERCENTILE
from faro_workloads.contract.embedding_settings import EmbeddingConfig
from faro_workloads.contract.index_profile import ChunkingIdentity, EmbeddingIdentity, IndexProfile
from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.portkey import PortkeyEmbedder
from faro_workloads.core.tokenization import (
    CharTokenCounter,
    HFTokenCounter,
    TokenCounter,
    minilm_tokenizer_path,
)
from faro_workloads.errors import ConfigurationError

EmbedderFactory = Callable[[EmbeddingIdentity], Embedder]


def gateway_embedder_factory(base: EmbeddingConfig) -> EmbedderFactory:
    """Embedders for other models through ``base``'s gateway (the hashing embedder for ``hash`` ones)."""

    def build(identity: EmbeddingIdentity) -> Embedder:
        if identity.provider == "hash":
            return HashingEmbedder(dimension=identity.dimension, model=identity.model)
        if base.kind != "portkey" or not base.gateway_url:
            raise ConfigurationError(
                f"the live generation embeds with {identity.key}, which needs a gateway: set "
                "FARO_EMBEDDING__KIND=portkey and FARO_EMBEDDING__GATEWAY_URL"
            )
        if identity.provider not in ("openai", "cohere"):
            raise ConfigurationError(f"the live generation's model {identity.key} has no gateway provider")
        return PortkeyEmbedder(
            base.model_copy(
                update={
                    "provider": identity.provider,
                    "model": identity.model,
                    "dimension": identity.dimension,
                }
            )
        )

    return build


def counter_for(identity: str, known: list[TokenCounter]) -> TokenCounter:
    """The token counter whose identity is ``identity``: one of ``known``, ``chars/N``, or the MiniLM
    tokenizer when installed. Raises :class:`ConfigurationError` when none is here."""
    for counter in known:
        if counter.identity == identity:
            return counter
    if identity.startswith("chars/") and identity.removeprefix("chars/").isdigit():
        return CharTokenCounter(int(identity.removeprefix("chars/")))
    installed = minilm_tokenizer_path()
    if installed is not None and (minilm := HFTokenCounter(installed)).identity == identity:
        return minilm
    raise ConfigurationError(f"the tokenizer {identity} of a stored generation is not installed here")


class ProfileRuntime:
    """Embedders and chunkers by profile (see the module docstring); closes the embedders it built."""

    def __init__(self, chunker: Chunker, embedder: Embedder, build_embedder: EmbedderFactory) -> None:
        self.chunker = chunker
        self.embedder = embedder
        self.profile = IndexProfile.current(embedder.identity, chunker.identity)
        """The configured (wanted) profile."""
        self._build_embedder = build_embedder
        self._embedders: dict[EmbeddingIdentity, Embedder] = {embedder.identity: embedder}
        self._chunkers: dict[tuple[ChunkingIdentity, EmbeddingIdentity | None], Chunker] = {
            _chunker_key(chunker.identity, embedder.identity): chunker
        }
        self._built: list[Embedder] = []
        self._lock = threading.Lock()

    def embedder_for(self, identity: EmbeddingIdentity) -> Embedder:
        with self._lock:
            if identity not in self._embedders:
                built = self._build_embedder(identity)
                self._built.append(built)
                self._embedders[identity] = built
            return self._embedders[identity]

    def chunker_for(self, profile: IndexProfile) -> Chunker:
        """The chunker that cuts as ``profile`` says (a semantic one embeds sentences with the profile's
        model)."""
        identity = profile.chunking
        key = _chunker_key(identity, profile.embedding)
        embedder = self.embedder_for(profile.embedding) if key[1] is not None else None
        with self._lock:
            if key not in self._chunkers:
                counter = counter_for(identity.tokenizer, [self.chunker.counter])
                config = ChunkingConfig(
                    strategy=identity.strategy,
                    size=identity.size,
                    overlap=identity.overlap,
                    context=identity.context or "none",
                    semantic_percentile=identity.semantic_percentile or DEFAULT_SEMANTIC_PERCENTILE,
                )
                self._chunkers[key] = Chunker(config, counter, embedder)
            return self._chunkers[key]

    def close(self) -> None:
        for embedder in self._built:
            embedder.close()


def _chunker_key(
    chunking: ChunkingIdentity, embedding: EmbeddingIdentity
) -> tuple[ChunkingIdentity, EmbeddingIdentity | None]:
    """What tells chunkers apart: how they cut, and for the semantic strategy the model it embeds with."""
    return chunking, embedding if chunking.strategy == "semantic" else None
