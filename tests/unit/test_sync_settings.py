"""``faro sync`` without a whole bucket source says which variables are missing, and only those."""

from __future__ import annotations

import pytest

from faro_workloads.census_run import run_sync
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.errors import ConfigurationError


def test_the_missing_bucket_source_variables_are_named() -> None:
    settings = FaroSettings.model_validate(
        {"s3": {"bucket": "docs-bucket"}, "source_documents": {"prefix": "raw/docs"}}
    )
    with pytest.raises(ConfigurationError) as refused:
        run_sync(settings, dry_run=True)
    assert str(refused.value) == "faro sync needs a bucket source: set FARO_SQS__QUEUE_URL"
    with pytest.raises(ConfigurationError, match="set FARO_S3__BUCKET, FARO_SQS__QUEUE_URL, FARO_SOURCE"):
        run_sync(FaroSettings.model_validate({}), dry_run=True)
