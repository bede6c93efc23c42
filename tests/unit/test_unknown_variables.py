"""FARO_* variables that name no setting are reported with the setting they most resemble (pydantic-settings
would skip them without a word), and the CLI warns about them once at start."""

from __future__ import annotations

import logging
import sys

import pytest

from faro_workloads.cli import main
from faro_workloads.contract.settings_env import unknown_variables


def test_a_misspelt_group_or_value_is_named_with_its_likely_setting() -> None:
    environ = {
        "FARO_COLECTION__NAME": "docs",
        "FARO_PIPELNE": "p",
        "FARO_SECRET_DIR": "/run/secrets",
        "FARO_SOMETHING_ELSE": "1",
        "PATH": "/bin",
    }
    assert unknown_variables(environ) == [
        "FARO_COLECTION__NAME is not a Faro setting and is ignored (did you mean FARO_COLLECTION__NAME?)",
        "FARO_PIPELNE is not a Faro setting and is ignored (did you mean FARO_PIPELINE?)",
        "FARO_SECRET_DIR is not a Faro setting and is ignored (did you mean FARO_SECRETS_DIR?)",
        "FARO_SOMETHING_ELSE is not a Faro setting and is ignored",
    ]


def test_settings_and_variables_read_elsewhere_are_not_reported() -> None:
    environ = {
        "FARO_COLLECTION__NAME": "docs",
        "FARO_QDRANT__URL": "http://qdrant:6333",
        "FARO_SQS__QUEUE_URL": "http://sqs/q",  # a group that defaults to None
        "FARO_PIPELINE": "p",
        "FARO_SECRETS_DIR": "/run/secrets",
        "FARO_URL": "http://127.0.0.1:8080",
    }
    assert unknown_variables(environ, also_known=["FARO_URL"]) == []


def test_the_cli_warns_at_start(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("FARO_COLECTION__NAME", "docs")
    monkeypatch.setattr(sys, "argv", ["faro", "crds", "--help"])
    with caplog.at_level(logging.WARNING, logger="faro_workloads.cli"):
        main()
    assert [record.getMessage() for record in caplog.records] == [
        "FARO_COLECTION__NAME is not a Faro setting and is ignored (did you mean FARO_COLLECTION__NAME?)"
    ]
