"""FARO_* variables are named from the settings model: what the operator writes, the services read."""

from __future__ import annotations

import pytest

from faro_workloads.contract.settings import FaroSettings
from faro_workloads.contract.settings_env import settings_environment


def test_nested_settings_become_prefixed_variables_that_the_settings_read_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = settings_environment(
        {
            "pipeline": "docs",
            "collection": {"name": "handbook", "dimension": 8},
            "embedding": {"kind": "hash", "dimension": 8},
            "sqs": {"queue_url": "http://127.0.0.1:9/q", "max_receives": 3, "endpoint_url": None},
            "consistency": {"repair": True},
        }
    )
    assert environment == {
        "FARO_COLLECTION__DIMENSION": "8",
        "FARO_COLLECTION__NAME": "handbook",
        "FARO_CONSISTENCY__REPAIR": "true",
        "FARO_EMBEDDING__DIMENSION": "8",
        "FARO_EMBEDDING__KIND": "hash",
        "FARO_PIPELINE": "docs",
        "FARO_SQS__MAX_RECEIVES": "3",
        "FARO_SQS__QUEUE_URL": "http://127.0.0.1:9/q",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = FaroSettings()
    assert (settings.pipeline, settings.collection.name, settings.sqs.max_receives) == ("docs", "handbook", 3)  # type: ignore[union-attr]
    assert settings.consistency.repair is True


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"colection": {"name": "x"}}, "FaroSettings has no setting 'colection'"),
        ({"chunking": {"overlapp": 3}}, "ChunkingConfig has no setting 'chunking.overlapp'"),
        ({"pipeline": {"name": "x"}}, "setting 'pipeline' is a value, not a group of settings"),
    ],
)
def test_a_name_the_settings_do_not_have_fails_where_it_is_written(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_environment(values)
