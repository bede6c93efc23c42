"""Synthetic, deterministic English-like documents and queries for the store benchmarks.

Words come from a fixed list of common English words, so the MiniLM tokenizer counts about one token per
word and a document of ``n`` words gives about ``n / (size - overlap)`` chunks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunk_building import build_chunks, embed_spans
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import Chunk, content_hash, normalise_text
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.ingest import IncomingDocument

# ~256-token chunks (MiniLM tokens), as the benchmarks in issue 8 ask for.
BENCH_CHUNKING = ChunkingConfig(size=256, overlap=32)

_VOCABULARY = """
the of and to in is was for on that with as by at from this be are it an which or have has not but
they their one all were been more when will would there can about other into some could time these
two may first then do any like my now over such our man me even most made after also did many
before must through back years where much your way well down should because each just those people
how too little state good very make world still own see men work long get here between both life
being under never day same another know while last might us great old year off come since against
go came right used take three states himself few house use during without again place american
around however home small found thought went say part once general high upon school every end
number water program system river mountain garden engine signal market harbor village library
window morning evening winter summer pipeline vector search index database query cluster network
server storage memory process
"""
_WORDS = tuple(_VOCABULARY.split())


@dataclass(frozen=True, slots=True)
class Corpus:
    """Documents to ingest, and the chunks (with embeddings) Faro makes of them."""

    documents: list[IncomingDocument]
    chunks: list[Chunk]


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(8, 20))
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 7)))


def document_text(words: int, rng: random.Random) -> str:
    """Paragraphs of sentences, about ``words`` words in all."""
    paragraphs: list[str] = []
    count = 0
    while count < words:
        paragraph = _paragraph(rng)
        paragraphs.append(paragraph)
        count += paragraph.count(" ") + 1
    return "\n\n".join(paragraphs)


def make_documents(chunks: int, chunks_per_doc: int, seed: int = 8) -> list[IncomingDocument]:
    """Enough documents of ``chunks_per_doc`` chunks each for about ``chunks`` chunks in all."""
    rng = random.Random(seed)
    step = BENCH_CHUNKING.size - BENCH_CHUNKING.overlap
    words = max(1, chunks_per_doc * step - BENCH_CHUNKING.overlap)
    count = max(1, round(chunks / chunks_per_doc))
    return [
        IncomingDocument(doc_id=f"bench/doc-{index:05d}", text=document_text(words, rng), source="bench")
        for index in range(count)
    ]


def make_queries(count: int, seed: int = 9) -> list[str]:
    """Short queries (one sentence each) over the corpus vocabulary."""
    rng = random.Random(seed)
    return [_sentence(rng) for _ in range(count)]


def chunk_and_embed(documents: list[IncomingDocument], chunker: Chunker, embedder: Embedder) -> list[Chunk]:
    """The chunks ingest makes of ``documents`` (same texts, ids, payloads, contexts and vectors), outside
    any store."""
    chunks: list[Chunk] = []
    for document in documents:
        text = normalise_text(document.text)
        digest = content_hash(text)
        spans = chunker.chunk(text, document.fmt)
        vectors, contexts = embed_spans(embedder, spans, document.metadata, chunker.identity.embeds_context)
        chunks += build_chunks(
            document.doc_id, digest, document.metadata, spans, vectors, embedder.model, contexts
        )
    return chunks


def build_corpus(chunks: int, chunks_per_doc: int, embedder: Embedder) -> Corpus:
    documents = make_documents(chunks, chunks_per_doc)
    return Corpus(documents, chunk_and_embed(documents, Chunker(BENCH_CHUNKING), embedder))
