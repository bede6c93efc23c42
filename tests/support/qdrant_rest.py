"""A Qdrant endpoint for tests (and benchmarks), where no Qdrant server binary can be had: the REST routes
Faro's clients call (the query path's collection info, queries and retrieve by id; creating, changing and
dropping a collection; the writers' upsert and delete; scroll and count; aliases), answered by
qdrant-client's local mode with Qdrant's own request and response models. Several processes can share one
local-mode collection this way (local mode itself locks its folder to one process). Requests are parsed
with those models, so a request the server would refuse fails here too; ``created`` keeps each create
request as sent (local mode has one node: it ignores shards and replicas, which a test reads here);
``delay`` makes every answer late (a slow or hung server); ``fail_every`` = n refuses every n-th write
(upsert or delete) with a 503, as an overloaded server would."""

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
        self.fail_every = 0
        self._writes = 0
        self.requests: dict[str, int] = {}
        self.created: dict[str, models.CreateCollection] = {}
        self.indexes: dict[str, list[models.CreateFieldIndex]] = {}
        self._lock = lock or threading.RLock()
        self.app = FastAPI()
        self.app.exception_handler(ValueError)(self._refused)
        self.app.get("/collections/{name}")(self._collection)
        self.app.get("/collections/{name}/exists")(self._exists)
        self.app.put("/collections/{name}")(self._create)
        self.app.put("/collections/{name}/index")(self._index)
        self.app.post("/collections/{name}/points/query/batch")(self._query_batch)
        self.app.post("/collections/{name}/points")(self._retrieve)
        self.app.patch("/collections/{name}")(self._update)
        self.app.delete("/collections/{name}")(self._drop)
        self.app.put("/collections/{name}/points")(self._upsert)
        self.app.post("/collections/{name}/points/delete")(self._delete_points)
        self.app.post("/collections/{name}/points/scroll")(self._scroll)
        self.app.post("/collections/{name}/points/count")(self._count)
        self.app.post("/collections/{name}/points/query")(self._query)
        self.app.get("/aliases")(self._aliases)
        self.app.post("/collections/aliases")(self._change_aliases)

    @staticmethod
    async def _refused(_request: Request, exc: Exception) -> JSONResponse:
        """What Qdrant answers for an unknown collection (local mode raises ValueError "... not found") or
        a request it refuses."""
        status = 404 if "not found" in str(exc) else 400
        return JSONResponse({"status": {"error": str(exc)}, "time": 0.0}, status_code=status)

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
        self.indexes.setdefault(name, []).append(index)
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

    async def _update(self, name: str, request: Request) -> JSONResponse:
        update = models.UpdateCollection.model_validate(await request.json())
        with self._lock:
            result = self.client.update_collection(name, optimizers_config=update.optimizers_config)
        return await self._answer("update", result)

    async def _drop(self, name: str) -> JSONResponse:
        with self._lock:
            result = self.client.delete_collection(name)
        return await self._answer("drop", result)

    def _refuse_this_write(self) -> JSONResponse | None:
        with self._lock:
            self._writes += 1
            refused = bool(self.fail_every) and self._writes % self.fail_every == 0
        if not refused:
            return None
        self.requests["refused"] = self.requests.get("refused", 0) + 1
        return JSONResponse({"status": {"error": "overloaded (refused by the test)"}}, status_code=503)

    async def _upsert(self, name: str, request: Request) -> JSONResponse:
        body = await request.json()  # a list of points, or columns of them (qdrant-client sends both)
        points: list[models.PointStruct] | models.Batch = (
            models.PointsBatch.model_validate(body).batch
            if "batch" in body
            else models.PointsList.model_validate(body).points
        )
        if (refused := self._refuse_this_write()) is not None:
            return refused
        with self._lock:
            result = self.client.upsert(name, points=points, wait=True)
        return await self._answer("upsert", result.model_dump(mode="json"))

    async def _delete_points(self, name: str, request: Request) -> JSONResponse:
        body = await request.json()
        selector: models.PointIdsList | models.FilterSelector = (
            models.PointIdsList.model_validate(body)
            if "points" in body
            else models.FilterSelector.model_validate(body)
        )
        if (refused := self._refuse_this_write()) is not None:
            return refused
        with self._lock:
            result = self.client.delete(name, points_selector=selector, wait=True)
        return await self._answer("delete", result.model_dump(mode="json"))

    async def _scroll(self, name: str, request: Request) -> JSONResponse:
        asked = models.ScrollRequest.model_validate(await request.json())
        with self._lock:
            records, offset = self.client.scroll(
                name,
                scroll_filter=asked.filter,
                limit=asked.limit or 10,
                offset=asked.offset,
                with_payload=asked.with_payload if asked.with_payload is not None else True,
                with_vectors=asked.with_vector or False,
            )
        points = [record.model_dump(mode="json") for record in records]
        result = {"points": points, "next_page_offset": offset}
        return await self._answer("scroll", result)

    async def _count(self, name: str, request: Request) -> JSONResponse:
        asked = models.CountRequest.model_validate(await request.json())
        with self._lock:
            result = self.client.count(name, count_filter=asked.filter, exact=asked.exact is not False)
        return await self._answer("count", result.model_dump(mode="json"))

    async def _query(self, name: str, request: Request) -> JSONResponse:
        asked = models.QueryRequest.model_validate(await request.json())
        with self._lock:
            [response] = self.client.query_batch_points(name, requests=[asked])
        return await self._answer("query", response.model_dump(mode="json"))

    async def _aliases(self) -> JSONResponse:
        with self._lock:
            aliases = self.client.get_aliases()
        return await self._answer("aliases", aliases.model_dump(mode="json"))

    async def _change_aliases(self, request: Request) -> JSONResponse:
        change = models.ChangeAliasesOperation.model_validate(await request.json())
        with self._lock:
            result = self.client.update_collection_aliases(change_aliases_operations=change.actions)
        return await self._answer("aliases_change", result)


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
