"""A Qdrant endpoint for tests, where no Qdrant server binary can be had: the REST routes the query path's
asynchronous client calls (collection info, batched queries, retrieve by id), answered by qdrant-client's
local mode with Qdrant's own request and response models. Requests are parsed with those models, so a request
the server would refuse fails here too; ``delay`` makes every answer late (a slow or hung server)."""

from __future__ import annotations

import asyncio
import threading
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
        self._lock = lock or threading.RLock()
        self.app = FastAPI()
        self.app.get("/collections/{name}")(self._collection)
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
