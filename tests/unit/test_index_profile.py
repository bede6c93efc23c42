"""The index profile (everything that shapes the vectors) and its fingerprint: stable across machines and
installs, different for every change that gives other vectors, blind to what does not."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from faro_workloads.contract.index_profile import (
    EXTRACTION_VERSION,
    ChunkingIdentity,
    EmbeddingIdentity,
    IndexProfile,
)
from faro_workloads.contract.settings import ChunkingConfig, EmbeddingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.embedding import build_embedder
from faro_workloads.core.tokenization import HFTokenCounter, minilm_tokenizer_path

PROFILE = IndexProfile(
    embedding=EmbeddingIdentity(provider="openai", model="text-embedding-3-small", dimension=1536),
    chunking=ChunkingIdentity(strategy="markdown", size=250, overlap=32, tokenizer="chars/4"),
)


def test_the_fingerprint_is_short_stable_and_made_of_the_values_only() -> None:
    rebuilt = IndexProfile.model_validate_json(PROFILE.model_dump_json())
    assert rebuilt.fingerprint == PROFILE.fingerprint
    assert len(PROFILE.fingerprint) == 16 and int(PROFILE.fingerprint, 16) >= 0
    assert PROFILE.extraction == EXTRACTION_VERSION
    assert PROFILE.embedding.key == "openai:text-embedding-3-small@1536"
    assert PROFILE.describe() == (
        "openai:text-embedding-3-small@1536 · markdown 250/32 · chars/4 · extraction v1"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"embedding": {"provider": "cohere"}},
        {"embedding": {"model": "text-embedding-3-large"}},
        {"embedding": {"dimension": 512}},
        {"chunking": {"strategy": "recursive"}},
        {"chunking": {"size": 251}},
        {"chunking": {"overlap": 0}},
        {"chunking": {"tokenizer": "hf:0123456789abcdef"}},
        {"extraction": EXTRACTION_VERSION + 1},
    ],
    ids=[
        "provider",
        "model",
        "dimension",
        "strategy",
        "size",
        "overlap",
        "tokenizer",
        "extraction",
    ],
)
def test_every_field_that_shapes_the_vectors_changes_the_fingerprint(change: dict) -> None:
    data = PROFILE.model_dump()
    for section, value in change.items():
        data[section] = {**data[section], **value} if isinstance(value, dict) else value
    assert IndexProfile.model_validate(data).fingerprint != PROFILE.fingerprint


def test_settings_that_do_not_shape_the_vectors_leave_the_profile_alone() -> None:
    base = EmbeddingConfig(kind="portkey", gateway_url="http://gw:8787/v1", model="m", dimension=8)
    tuned = base.model_copy(
        update={
            "batch_size": 7,
            "timeout_seconds": 3,
            "gateway_url": "http://elsewhere/v1",
            "max_attempts": 2,
        }
    )
    assert build_embedder(base).identity == build_embedder(tuned).identity
    assert build_embedder(base).identity == EmbeddingIdentity(provider="openai", model="m", dimension=8)


def test_the_tokenizer_is_recorded_as_resolved_and_by_content_not_by_where_it_is_installed(
    tmp_path: Path,
) -> None:
    chars = Chunker(ChunkingConfig(tokenizer="chars", size=100, overlap=10))
    assert chars.identity == ChunkingIdentity(
        strategy="recursive", size=100, overlap=10, tokenizer="chars/4", context="title-lead-headings"
    )
    installed = minilm_tokenizer_path()
    if installed is None:
        pytest.fail("the MiniLM tokenizer is part of the dev install (make setup)")
    copied = tmp_path / "elsewhere" / "tokenizer.json"
    copied.parent.mkdir()
    shutil.copy(installed, copied)
    assert HFTokenCounter(installed).identity == HFTokenCounter(copied).identity
    assert HFTokenCounter(installed).identity.startswith("hf:")
    assert HFTokenCounter(installed).name != HFTokenCounter(copied).name
    resolved = Chunker(ChunkingConfig(tokenizer="auto", size=100, overlap=10)).identity.tokenizer
    assert resolved == HFTokenCounter(installed).identity != "auto"


def test_chunk_context_is_part_of_the_profile_and_none_keeps_the_fingerprints_made_before_it_existed() -> (
    None
):
    def identity(context: str) -> ChunkingIdentity:
        return Chunker(ChunkingConfig(tokenizer="chars", size=100, overlap=10, context=context)).identity

    plain, contextual = identity("none"), identity("title-headings")
    assert plain.context is None and not plain.embeds_context and contextual.embeds_context
    assert plain.fingerprint != contextual.fingerprint
    # What a profile without the field hashed to (sha256 of its canonical JSON), before context existed.
    before = '{"overlap":10,"size":100,"strategy":"recursive","tokenizer":"chars/4"}'
    assert plain.fingerprint == hashlib.sha256(before.encode()).hexdigest()[:16]
