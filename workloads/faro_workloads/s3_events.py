"""Parsing S3 event notifications as they arrive in SQS message bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote_plus

from faro_workloads.errors import InputError


class MalformedEvent(InputError):
    """A message body that is not an S3 event notification."""


@dataclass(frozen=True, slots=True)
class S3ObjectEvent:
    event_name: str
    bucket: str
    key: str

    @property
    def created(self) -> bool:
        return self.event_name.startswith("ObjectCreated:")


def object_created_notification(bucket: str, keys: list[str]) -> str:
    """An SQS message body as S3 sends it for ObjectCreated events of ``keys`` (what the census sends to
    have documents embedded again; the embedder cannot tell it from S3's own)."""
    records = [
        {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/")}},
        }
        for key in keys
    ]
    return json.dumps({"Records": records})


def parse_s3_notification(body: str) -> list[S3ObjectEvent] | None:
    """The object events in an SQS message body; None for S3's ``s3:TestEvent``.

    Keys arrive URL-encoded (spaces as '+'), so they are decoded here.
    """
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"message body is not JSON: {exc.msg}") from exc
    if not isinstance(message, dict):
        raise MalformedEvent("message body is not a JSON object")
    if message.get("Event") == "s3:TestEvent":
        return None
    records = message.get("Records")
    if not isinstance(records, list) or not records:
        raise MalformedEvent("message has no S3 event Records")
    events = []
    for record in records:
        try:
            events.append(
                S3ObjectEvent(
                    event_name=str(record["eventName"]),
                    bucket=str(record["s3"]["bucket"]["name"]),
                    key=unquote_plus(str(record["s3"]["object"]["key"])),
                )
            )
        except (KeyError, TypeError) as exc:
            raise MalformedEvent(f"S3 event record lacks {exc}") from exc
    return events
