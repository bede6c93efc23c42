"""The durable copy of ``faro local --s3``'s bucket, against a real local S3 server (moto_server)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from faro_workloads.aws_resources import s3_client
from faro_workloads.contract.settings import S3Config
from faro_workloads.durable_local_bucket import CorruptStoredObject, DurableBucket, WriteThroughS3Client

pytestmark = pytest.mark.integration


def _bucket(moto_url: str) -> tuple[Any, str]:
    config = S3Config(bucket=f"durable-{uuid.uuid4().hex[:10]}", endpoint_url=moto_url)
    s3 = s3_client(config)
    s3.create_bucket(Bucket=config.bucket)
    return s3, config.bucket


def _keys(s3: Any, bucket: str) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_writes_and_deletes_are_kept_and_restored_into_a_fresh_bucket(tmp_path: Path, moto_url: str) -> None:
    s3, bucket = _bucket(moto_url)
    client = WriteThroughS3Client(s3, bucket, DurableBucket(tmp_path / "bucket"))
    client.put_object(
        Bucket=bucket, Key="faro/p/documents/a.json", Body=b"first", Metadata={"content-hash": "1"}
    )
    client.put_object(
        Bucket=bucket,
        Key="faro/p/documents/a.json",
        Body=b'{"v": 2}',
        ContentType="application/json",
        Metadata={"content-hash": "2"},
    )
    client.put_object(Bucket=bucket, Key="faro/p/documents/b.json", Body="gone soon")
    client.delete_object(Bucket=bucket, Key="faro/p/documents/b.json")
    client.put_object(Bucket=bucket, Key="faro/p/tombstones/b.json", Body=b"{}")
    assert _keys(s3, bucket) == {"faro/p/documents/a.json", "faro/p/tombstones/b.json"}

    fresh_s3, fresh = _bucket(moto_url)  # what a restart sees: an empty server
    assert DurableBucket(tmp_path / "bucket").restore_into(fresh_s3, fresh) == 2
    assert _keys(fresh_s3, fresh) == {"faro/p/documents/a.json", "faro/p/tombstones/b.json"}
    restored = fresh_s3.get_object(Bucket=fresh, Key="faro/p/documents/a.json")
    assert restored["Body"].read() == b'{"v": 2}'
    assert restored["ContentType"] == "application/json"
    assert restored["Metadata"] == {"content-hash": "2"}
    assert fresh_s3.get_object(Bucket=fresh, Key="faro/p/tombstones/b.json")["Body"].read() == b"{}"


def test_other_buckets_pass_through_and_unkept_writes_are_refused(tmp_path: Path, moto_url: str) -> None:
    s3, bucket = _bucket(moto_url)
    _, other = _bucket(moto_url)
    durable = DurableBucket(tmp_path / "bucket")
    client = WriteThroughS3Client(s3, bucket, durable)
    client.put_object(Bucket=other, Key="elsewhere.json", Body=b"x")
    assert _keys(s3, other) == {"elsewhere.json"}
    assert list(durable.objects()) == []
    with pytest.raises(NotImplementedError, match="would not be kept"):
        client.copy_object(
            Bucket=bucket, Key="copy.json", CopySource={"Bucket": other, "Key": "elsewhere.json"}
        )
    assert client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_write_cut_short_is_dropped_and_a_damaged_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "bucket"
    DurableBucket(folder).put("faro/p/documents/a.json", b"body", None, {})
    (folder / "0123.object.abc.partial").write_bytes(b'{"key": "half')  # a crash mid-write
    reopened = DurableBucket(folder)
    assert not list(folder.glob("*.partial"))
    assert [item.key for item in reopened.objects()] == ["faro/p/documents/a.json"]

    (folder / "ffff.object").write_bytes(b"not a header")
    with pytest.raises(CorruptStoredObject, match=r"ffff\.object is not a stored object"):
        list(reopened.objects())


def test_a_conditional_write_whose_condition_fails_leaves_both_copies_as_they_were(
    tmp_path: Path, moto_url: str
) -> None:
    """As S3 does (412), and before the durable copy is touched: the folder never keeps a refused write."""
    from botocore.exceptions import ClientError

    s3, bucket = _bucket(moto_url)
    durable = DurableBucket(tmp_path / "bucket")
    client = WriteThroughS3Client(s3, bucket, durable)
    key = "faro/p/documents/a.json"
    client.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
    etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
    for condition in ({"IfNoneMatch": "*"}, {"IfMatch": '"0123456789abcdef0123456789abcdef"'}):
        with pytest.raises(ClientError) as refused:
            client.put_object(Bucket=bucket, Key=key, Body=b"second", **condition)
        assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert [item.body for item in durable.objects()] == [b"first"]
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"first"
    client.put_object(Bucket=bucket, Key=key, Body=b"second", IfMatch=etag)  # the version looked at
    assert [item.body for item in durable.objects()] == [b"second"]
