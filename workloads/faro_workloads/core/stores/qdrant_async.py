"""Searching a Qdrant server's collection from an event loop: qdrant-client's asynchronous client, one per
loop (:class:`~faro_workloads.core.loop_bound.LoopBound`), sending the same requests the blocking store
sends (:mod:`.qdrant_points`). Local mode has no asynchronous path worth the name (qdrant-client's
asynchronous local mode computes on the loop): there the blocking store runs on a thread of its own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
from qdrant_client import AsyncQdrantClient, models

from faro_workloads.core.documents import RankedChunk, SearchHit
from faro_workloads.core.fusion import at_most_per_document
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.loop_bound import LoopBound
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.qdrant_points import (
    LexicalIndexMissing,
    chunk_texts_of,
    dense_request,
    has_lexical_vectors,
    lexical_request,
    ranked_chunks,
    ranked_hits,
    search_hits,
)

BACKEND = "qdrant"


class AsyncQdrantSearch:
    """:class:`~faro_workloads.core.stores.ports.AsyncChunkSearch` over collection ``name`` of a server."""

    def __init__(self, clients: LoopBound[AsyncQdrantClient], name: str) -> None:
        self._clients = clients
        self._name = name
        self._lexical: bool | None = None  # whether the collection has lexical vectors, once asked

    async def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        (found,) = await self._batch("search", [dense_request(vector, k, flt)])
        return found

    async def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        return at_most_per_document(await self.search(vector, candidates, flt), per_document)[:k]

    async def search_lexical(
        self, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        if not query:
            return []
        await self._require_lexical()
        (found,) = await self._batch("search_lexical", [lexical_request(query, k, flt)])
        return found

    async def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]:
        requests = [dense_request(vector, k, flt, ranked=True)]
        if query:
            await self._require_lexical()
            requests.append(lexical_request(query, k, flt, ranked=True))
        client = await self._clients.get()
        with STORE_SECONDS.labels(BACKEND, "rank_both").time():
            responses = await client.query_batch_points(self._name, requests=requests)
        rankings = [ranked_chunks(response.points) for response in responses]
        return rankings[0], rankings[1] if query else []

    async def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]:
        if not ranking:
            return []
        client = await self._clients.get()
        with STORE_SECONDS.labels(BACKEND, "ranked_hits").time():
            records = await client.retrieve(
                self._name, ids=[str(chunk.id) for chunk in ranking], with_payload=True, with_vectors=False
            )
        return ranked_hits(ranking, records)

    async def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not ids:
            return {}
        client = await self._clients.get()
        with STORE_SECONDS.labels(BACKEND, "chunk_texts").time():
            records = await client.retrieve(
                self._name, ids=[str(i) for i in ids], with_payload=["text"], with_vectors=False
            )
        return chunk_texts_of(records)

    async def _batch(self, what: str, requests: list[models.QueryRequest]) -> list[list[SearchHit]]:
        """Each request's points as hits, the requests sent in one call."""
        client = await self._clients.get()
        with STORE_SECONDS.labels(BACKEND, what).time():
            responses = await client.query_batch_points(self._name, requests=requests)
        return [search_hits(response.points) for response in responses]

    async def _require_lexical(self) -> None:
        if self._lexical is None:
            client = await self._clients.get()
            with STORE_SECONDS.labels(BACKEND, "collection_info").time():
                info = await client.get_collection(self._name)
            self._lexical = has_lexical_vectors(info)
        if not self._lexical:
            raise LexicalIndexMissing(self._name)
