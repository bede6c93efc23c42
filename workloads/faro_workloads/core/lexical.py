"""The lexical signal of hybrid search: a chunk's terms as a sparse vector both stores hold alike.

Dense vectors find paraphrases; they miss exact names (``sqlite3_busy_timeout``, ``core.excludesFile``,
``--force-with-lease``, ``SQLITE_BUSY``, ``3.40.1``) that a user types and a page states. The lexical
signal is BM25: a chunk's weight for a term is BM25's saturated, length-normalised term frequency, computed
here when the chunk is written; the inverse document frequency is the store's, at query time (Qdrant's
sparse vectors with the IDF modifier; PostgreSQL counts the chunks holding each query term). A query's
sparse vector has weight 1 for each of its terms, so a chunk's score is ``sum(idf(t) * weight(t, chunk))``:
BM25.

Terms (:func:`terms`): lower-cased words and identifiers. An identifier is kept whole (``busy_timeout``,
``core.excludesfile``, ``--patch``, ``3.40.1``) *and* by its parts, so that both ``busy_timeout`` and
"busy timeout" find it; common English words are dropped; a plural ``s`` is folded (``commits`` and
``commit`` are one term). A term's index in the sparse vector is a stable 31-bit hash of its text
(:func:`term_id`), the same in every process and both stores.

What the chunk is indexed as is what the model embeds: its context (title and headings) and its text.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter
from dataclasses import dataclass

from faro_workloads.contract.index_profile import LEXICAL_VERSION
from faro_workloads.core.documents import CONTEXT_KEY, Chunk, embedded_text

__all__ = [
    "LEXICAL_VERSION",
    "MAX_WEIGHT",
    "SparseVector",
    "chunk_vector",
    "document_vector",
    "query_vector",
    "terms",
]

WEIGHTS_CACHED = 4096
K1 = 1.2
B = 0.75
MAX_WEIGHT = K1 + 1
"""No chunk's weight for a term reaches it (``tf * (K1 + 1) / (tf + norm)`` saturates below ``K1 + 1``): a
bound on what one query term can add to a chunk's score, by which PostgreSQL's search skips the chunks
whose terms cannot reach the k-th score. (A chunk in which two terms hash to one id, a 31-bit collision,
holds their weights added up, which may pass the bound: the pruned search is exact but for such a chunk.)"""
AVERAGE_TERMS = 120.0
"""BM25's average document length, fixed: chunks are bounded by the chunk size, so their lengths vary
little, and a fixed value keeps a chunk's weights independent of the rest of the collection (they are
computed once, when it is written, in whichever process writes it)."""
MAX_TERMS_PER_CHUNK = 1000
"""Distinct terms kept per chunk (the most frequent): a bound on a pathological chunk's row."""
MAX_QUERY_TERMS = 64

# Flags (-p, --dry-run), dotted/underscored identifiers, versions and numbers, words.
_TOKEN = re.compile(
    r"--?[a-z][a-z0-9]*(?:-[a-z0-9]+)*"  # command-line flags
    r"|[a-z_][a-z0-9_]*(?:[.:][a-z_][a-z0-9_]*)*"  # words and identifiers: snake_case, a.b.c, ns::name
    r"|\d+(?:\.\d+)+"  # versions: 3.40.1
    r"|\d+"
)
_PARTS = re.compile(r"[a-z0-9]+")
_STOP_WORDS_TEXT = """a about above after again against all am an and any are as at be because been before
    being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves"""
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())


def _fold(word: str) -> str:
    """A plural folded to its singular, roughly: ``queries`` -> ``query``, ``indexes`` -> ``index``,
    ``commits`` -> ``commit``; words ending in ss, us, is are left alone."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@functools.lru_cache(maxsize=65_536)
def _word_term(word: str) -> str | None:
    """A plain word's or number's term (None for a stop word or a single letter); remembered, since a
    language's words repeat."""
    if word in STOP_WORDS or (len(word) <= 1 and not word.isdigit()):
        return None
    return _fold(word)


def terms(text: str) -> list[str]:
    """The terms of ``text``, in order, with repeats (see the module docstring)."""
    found: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        if token.isalnum():  # a plain word or number (most tokens): one part, itself
            term = _word_term(token)
            if term is not None:
                found.append(term)
            continue
        parts = [] if token[0].isdigit() else _PARTS.findall(token)  # a version is one term
        if len(parts) > 1 or token.startswith("-"):
            found.append(token)  # the identifier or flag whole
            found.extend(_fold(part) for part in parts if len(part) > 1 and part not in STOP_WORDS)
        elif token not in STOP_WORDS and (len(token) > 1 or token.isdigit()):
            found.append(_fold(token))
    return found


def term_id(term: str) -> int:
    """The term's index in a sparse vector: CRC-32 of its UTF-8 text, 31 bits (a PostgreSQL ``integer``)."""
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Term ids (ascending, distinct) and their weights."""

    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


@functools.lru_cache(maxsize=WEIGHTS_CACHED)
def document_vector(text: str) -> SparseVector:
    """A chunk's BM25 term weights (see :data:`AVERAGE_TERMS`). The last :data:`WEIGHTS_CACHED` are kept:
    a chunk written to PostgreSQL is written to Qdrant moments later, and its weights are the same."""
    counts = Counter(terms(text))
    if not counts:
        return SparseVector([], [])
    length = sum(counts.values())
    norm = K1 * (1 - B + B * length / AVERAGE_TERMS)
    weights: dict[int, float] = {}
    for term, tf in counts.most_common(MAX_TERMS_PER_CHUNK):
        index = term_id(term)
        weights[index] = weights.get(index, 0.0) + tf * (K1 + 1) / (tf + norm)
    ordered = sorted(weights)
    return SparseVector(ordered, [weights[i] for i in ordered])


def query_vector(text: str) -> SparseVector:
    """A question's terms, weight 1 each (the store multiplies by the IDF); its first
    :data:`MAX_QUERY_TERMS` distinct ones."""
    first = list(dict.fromkeys(term_id(term) for term in terms(text)))[:MAX_QUERY_TERMS]
    ids = sorted(first)
    return SparseVector(ids, [1.0] * len(ids))


def chunk_vector(chunk: Chunk) -> SparseVector:
    """What a stored chunk is indexed as: the BM25 weights of its context and text (what the model
    embedded), computed alike by whichever store writes it."""
    return document_vector(embedded_text(chunk.metadata.get(CONTEXT_KEY, ""), chunk.text))
