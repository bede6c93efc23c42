"""A Qdrant endpoint for tests, where no Qdrant server binary can be had: the REST routes the query path's
asynchronous client calls (collection info, batched queries, retrieve by id) and those that create a
collection (exists, create, payload index), answered by qdrant-client's local mode with Qdrant's own request
and response models. Requests are parsed with those models, so a request the server would refuse fails here
too; ``created`` keeps each create request as sent (local mode has one node: it ignores shards and
replicas, which a test reads here); ``delay`` makes every answer late (a slow or hung server)."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from qdrant_client import QdrantClient, models

from faro_workloads.background_server import BackgroundServer, free_port


class QdrantRest:
    """The routes over ``client`` (local mode); ``requests`` counts what was asked, by route."""

    def __init__(self, client: QdrantClient, lock: threading.RLock | None = None) -> None:
        self.client = client
        self.url = ""
        self.delay = 0.0
        self.requests: dict[str, int] = {}
        self.created: dict[str, models.CreateCollection] = {}
        self._lock = lock or threading.RLock()
        self.app = FastAPI()
        self.app.get("/collections/{name}")(self._collection)
        self.app.get("/collections/{name}/exists")(self._exists)
        self.app.put("/collections/{name}")(self._create)
        self.app.put("/collections/{name}/index")(self._index)
        self.app.post("/collections/{name}/points/query/batch")(self._query_batch)
        self.app.post("/collections/{name}/points")(self._retrieve)

    async def _answer(self, route: str, result: Any) -> JSONResponse:
        self.requests[route] = self.requests.get(route, 0) + 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return JSONResponse({"result": result, "status": "ok", "time": 0.0})

    async def _collection(self, name: str) -> JSONResponse:
        with self._lock:
            info = self.client.get_collection(name)
        return await self._answer("collection", info.model_dump(mode="json"))

    async def _exists(self, name: str) -> JSONResponse:
        with self._lock:
            exists = self.client.collection_exists(name)
        return await self._answer("exists", {"exists": exists})

    async def _create(self, name: str, request: Request) -> JSONResponse:
        create = models.CreateCollection.model_validate(await request.json())
        self.created[name] = create
        with self._lock:
            self.client.create_collection(
                name,
                vectors_config=create.vectors,
                sparse_vectors_config=create.sparse_vectors,
                hnsw_config=create.hnsw_config,
                optimizers_config=create.optimizers_config,
            )
        return await self._answer("create", True)

    async def _index(self, name: str, request: Request) -> JSONResponse:
        index = models.CreateFieldIndex.model_validate(await request.json())
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # local mode: payload indexes have no effect
            result = self.client.create_payload_index(name, index.field_name, index.field_schema)
        return await self._answer("index", result.model_dump(mode="json"))

    async def _query_batch(self, name: str, request: Request) -> JSONResponse:
        batch = models.QueryRequestBatch.model_validate(await request.json())
        with self._lock:
            responses = self.client.query_batch_points(name, requests=batch.searches)
        return await self._answer("query_batch", [response.model_dump(mode="json") for response in responses])

    async def _retrieve(self, name: str, request: Request) -> JSONResponse:
        asked = models.PointRequest.model_validate(await request.json())
        with self._lock:
            records = self.client.retrieve(
                name,
                ids=asked.ids,
                with_payload=asked.with_payload if asked.with_payload is not None else True,
                with_vectors=asked.with_vector or False,
            )
        return await self._answer("retrieve", [record.model_dump(mode="json") for record in records])


@contextmanager
def serving_qdrant_rest(
    client: QdrantClient, lock: threading.RLock | None = None
) -> Iterator[tuple[str, QdrantRest]]:
    """(url, routes): ``client``'s collections served on a free loopback port until the block ends."""
    rest = QdrantRest(client, lock)
    server = BackgroundServer(rest.app, "127.0.0.1", free_port())
    server.start()
    rest.url = server.url
    try:
        yield server.url, rest
    finally:
        server.stop()
