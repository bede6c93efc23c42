"""Chunk-object keys, their (de)serialisation, and S3 event parsing: the pure parts of the S3 path."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import quote_plus

import pytest

from faro_workloads.contract.index_profile import ChunkingIdentity
from faro_workloads.core.chunk_objects import (
    ChunkObject,
    ChunkObjectLayout,
    MalformedChunkObject,
    decode_doc_id,
    encode_doc_id,
)
from faro_workloads.core.documents import ChunkSpan, InvalidDocumentId, SourceText, content_hash
from faro_workloads.s3_events import MalformedEvent, parse_s3_notification

LAYOUT = ChunkObjectLayout(prefix="faro", pipeline="docs")


@pytest.mark.parametrize("doc_id", ["a", "guides/setup.md", "x" * 256, "a:b@c+d=e,f~g", "_hidden"])
def test_every_valid_id_maps_to_one_key_segment_and_back(doc_id: str) -> None:
    key = LAYOUT.document_key(doc_id)
    assert key.startswith("faro/docs/documents/") and key.endswith(".json")
    assert "/" not in key.removeprefix("faro/docs/documents/")
    assert LAYOUT.parse_key(key) == ("document", doc_id)
    assert LAYOUT.parse_key(LAYOUT.tombstone_key(doc_id)) == ("tombstone", doc_id)
    assert decode_doc_id(encode_doc_id(doc_id)) == doc_id


@pytest.mark.parametrize(
    "doc_id", ["../other-pipeline/x", "a/../../b", "/abs", "", "a//b", "with space", "nul\x00"]
)
def test_ids_that_could_escape_or_are_invalid_never_become_keys(doc_id: str) -> None:
    with pytest.raises(InvalidDocumentId):
        LAYOUT.document_key(doc_id)


@pytest.mark.parametrize(
    "key",
    [
        "faro/other/documents/YQ.json",  # another pipeline
        "faro/docs/documents/sub/YQ.json",  # nested
        "faro/docs/documents/YQ.txt",  # not a chunk object
        "faro/docs/documents/%%%.json",  # not base64url
        "faro/docs/documents/Li4.json",  # base64url of "..": decodes, but is no valid id
        "elsewhere/YQ.json",
    ],
)
def test_keys_outside_the_layout_are_rejected(key: str) -> None:
    with pytest.raises(MalformedChunkObject):
        LAYOUT.parse_key(key)


def test_chunk_object_round_trips_with_unicode_and_metadata() -> None:
    original = ChunkObject(
        pipeline="docs",
        doc_id="cafe/menu",
        content_hash="ab" * 32,
        source="upload:menü.md",
        metadata={"team": "kitchen", "rank": 2, "public": True},
        chunks=[ChunkSpan("Crème brûlée", 0, 12, {"headings": ["Desserts"]}), ChunkSpan("Tea", 14, 17, {})],
    )
    assert ChunkObject.from_json_bytes(original.to_json_bytes()) == original
    cut = ChunkingIdentity(strategy="markdown", size=64, overlap=8, tokenizer="chars/4")
    text = SourceText("Crème brûlée\n\nTea", "markdown", content_hash("Crème brûlée\n\nTea"))
    complete = dataclasses.replace(original, content_hash=text.content_hash, chunking=cut, text=text)
    read = ChunkObject.from_json_bytes(complete.to_json_bytes())
    assert read == complete and (read.chunking, read.text) == (cut, text)


def test_version_1_objects_written_before_chunking_was_recorded_are_still_read() -> None:
    read = ChunkObject.from_json_bytes(
        _object_bytes(version=1, chunks=[{"text": "Tea", "start": 0, "end": 3, "metadata": {}}])
    )
    assert (read.doc_id, read.chunking, read.text, [c.text for c in read.chunks]) == (
        "a",
        None,
        None,
        ["Tea"],
    )


def _object_bytes(**changes: object) -> bytes:
    body = {
        "version": 2,
        "pipeline": "p",
        "doc_id": "a",
        "content_hash": "h",
        "source": "s",
        "metadata": {},
        "created_at": "2026-01-01T00:00:00+00:00",
        "chunks": [],
    }
    return json.dumps({**body, **changes}).encode()


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"version": 2}',
        b'{"version": 3}',
        b'{"version": 1, "doc_id": "a"}',
        json.dumps(
            {
                "version": 1,
                "pipeline": "p",
                "doc_id": "../x",
                "content_hash": "h",
                "source": "s",
                "metadata": {},
                "created_at": "2026-01-01T00:00:00+00:00",
                "chunks": [],
            }
        ).encode(),
        _object_bytes(chunking={"strategy": "zigzag", "size": 1, "overlap": 0, "tokenizer": ""}),
        _object_bytes(text="Tea", format="text"),  # not the content "h"
    ],
)
def test_malformed_chunk_objects_are_reported_not_crashed_on(data: bytes) -> None:
    with pytest.raises(MalformedChunkObject):
        ChunkObject.from_json_bytes(data)


def _event(key: str, name: str = "ObjectCreated:Put") -> str:
    return json.dumps(
        {
            "Records": [
                {"eventName": name, "s3": {"bucket": {"name": "b"}, "object": {"key": quote_plus(key)}}}
            ]
        }
    )


def test_s3_events_are_parsed_and_keys_url_decoded() -> None:
    key = "faro/docs/documents/a b+c.json"
    [event] = parse_s3_notification(_event(key))  # type: ignore[misc]
    assert (event.bucket, event.key, event.created) == ("b", key, True)
    [removed] = parse_s3_notification(_event(key, "ObjectRemoved:Delete"))  # type: ignore[misc]
    assert not removed.created


def test_the_s3_test_event_is_recognised() -> None:
    assert parse_s3_notification(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) is None


@pytest.mark.parametrize(
    "body", ["", "not json", "[1]", "{}", '{"Records": []}', '{"Records": [{"eventName": "x"}]}']
)
def test_anything_else_is_a_malformed_event(body: str) -> None:
    with pytest.raises(MalformedEvent):
        parse_s3_notification(body)
