"""The query API's response body, built without the pydantic models, still matches QueryResponse."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid

from faro_workloads.api.query import QueryHit, QueryResponse, response_body
from faro_workloads.core.documents import Neighbour, SearchHit
from faro_workloads.core.retrieval import Backend, QueryResult


def _hit(score: float) -> SearchHit:
    return SearchHit(
        id=uuid.uuid4(), score=score, doc_id="doc", seq=3, text="some text", metadata={"lang": "en", "n": 2}
    )


def test_the_response_body_is_what_the_model_would_send() -> None:
    with_context = dataclasses.replace(_hit(0.9), neighbours=(Neighbour(2, "before"), Neighbour(4, "after")))
    result = QueryResult([with_context, _hit(0.5)], Backend.POSTGRES, "timeout", 0.0123456)
    body = response_body(result)
    model = QueryResponse.model_validate(body)
    assert json.loads(model.model_dump_json()) == json.loads(json.dumps(body))
    assert body["backend"] == "postgres" and body["took_ms"] == 12.346
    assert body["hits"][0]["id"] == str(result.hits[0].id)
    assert body["hits"][0]["neighbours"] == [{"seq": 2, "text": "before"}, {"seq": 4, "text": "after"}]
    assert body["hits"][1]["neighbours"] == []


def test_scores_json_cannot_hold_are_null_as_pydantic_sends_them() -> None:
    result = QueryResult([_hit(math.nan), _hit(math.inf)], Backend.QDRANT, None, 0.001)
    assert [hit["score"] for hit in response_body(result)["hits"]] == [None, None]
    hit = response_body(QueryResult([_hit(0.5)], Backend.QDRANT, None, 0.001))["hits"][0]
    assert '"score":null' in QueryHit(**(hit | {"score": math.nan})).model_dump_json()
