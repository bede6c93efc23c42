"""The baseline of ``bench.bucket_sync``: the straightforward full-sync diff, run as its own process from the
same ``FARO_*`` settings as ``faro sync``: every listed key into a dict (document id -> ETag), every stored
document's (id, ETag) into another, then the differences. It prints the counts as one JSON line."""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from faro_workloads.aws_resources import s3_client
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.core.source_documents import SourceLayout


def main() -> None:
    settings = FaroSettings()
    assert settings.s3 is not None and settings.source_documents is not None
    layout = SourceLayout.of(settings.source_documents, settings.s3.bucket)
    listed: dict[str, str] = {}
    pages = (
        s3_client(settings.s3)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=layout.bucket, Prefix=layout.key_prefix)
    )
    for page in pages:
        for item in page.get("Contents", []):
            doc_id = layout.doc_id(item["Key"])
            if doc_id is not None:
                listed[doc_id] = item["ETag"].strip('"')
    table = sql.Identifier(settings.postgres.schema_name, f"{settings.collection.name}_documents")
    with psycopg.connect(settings.postgres.dsn.get_secret_value()) as conn:
        rows = conn.execute(
            sql.SQL("SELECT doc_id, source_etag FROM {} WHERE source LIKE %s").format(table),
            (layout.source_prefix + "%",),
        ).fetchall()
    stored = dict(rows)
    missing = sum(1 for doc_id, etag in listed.items() if stored.get(doc_id) != etag)
    orphans = sum(1 for doc_id in stored if doc_id not in listed)
    print(json.dumps({"acknowledged": len(listed), "missing_in_postgres": missing, "orphans": orphans}))


if __name__ == "__main__":
    main()
