"""Secrets as files: the settings read a folder of files named like their variables (``FARO_SECRETS_DIR``),
as the operator mounts a pod's Secrets, and fallback targets read their keys' files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from faro_workloads.cli import cli, serve_commands
from faro_workloads.contract.embedding_settings import GatewayTarget
from faro_workloads.contract.secret_files import MAX_SECRET_BYTES, SECRETS_DIR_VARIABLE, SecretFileError
from faro_workloads.contract.settings import FaroSettings

COMMAND_MODULES = (serve_commands,)  # registers ``faro serve ...`` on ``cli``
DSN = "postgresql://faro:s3cret@db.internal:5432/faro"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No FARO_* variable of the test process leaks into the settings under test."""
    for name in [n for n in os.environ if n.startswith("FARO_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def _mounted(folder: Path, files: dict[str, str]) -> Path:
    """``files`` laid out as the kubelet mounts a Secret volume: symlinks into a ``..data`` folder."""
    data = folder / "..2026_12_07_09_00_00.123"
    data.mkdir(parents=True)
    (folder / "..data").symlink_to(data.name)
    for name, value in files.items():
        (data / name).write_text(value)
        (folder / name).symlink_to(Path("..data") / name)
    return folder


def test_files_named_like_variables_set_the_settings(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = _mounted(
        tmp_path / "secrets",
        {
            "FARO_POSTGRES__DSN": DSN + "\n",  # kubectl create secret --from-file keeps the line break
            "FARO_QDRANT__API_KEY": "qdrant-key",
            "FARO_EMBEDDING__API_KEY": "sk-primary\r\n",
            "FALLBACK_TARGET_0_API_KEY": "not a setting",
        },
    )
    environment.setenv(SECRETS_DIR_VARIABLE, str(folder))
    environment.setenv("FARO_QDRANT__URL", "http://qdrant:6333")
    settings = FaroSettings()
    assert settings.postgres.dsn.get_secret_value() == DSN
    assert settings.qdrant.url == "http://qdrant:6333"  # a variable and a file of one group merge
    assert settings.qdrant.api_key is not None and settings.qdrant.api_key.get_secret_value() == "qdrant-key"
    assert settings.embedding.api_key is not None
    assert settings.embedding.api_key.get_secret_value() == "sk-primary"


def test_a_variable_that_is_set_wins_over_the_file(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = _mounted(tmp_path / "secrets", {"FARO_POSTGRES__DSN": DSN})
    environment.setenv(SECRETS_DIR_VARIABLE, str(folder))
    environment.setenv("FARO_POSTGRES__DSN", "postgresql:///from-env")
    assert FaroSettings().postgres.dsn.get_secret_value() == "postgresql:///from-env"


def test_without_the_folder_variable_no_file_is_read(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _mounted(tmp_path / "secrets", {"FARO_POSTGRES__DSN": DSN})
    environment.chdir(tmp_path / "secrets")
    assert FaroSettings().postgres.dsn.get_secret_value() == "postgresql:///faro"  # the default


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"x" * (MAX_SECRET_BYTES + 1), f"larger than {MAX_SECRET_BYTES} bytes"),
        (b"\xff\xfe key", "not UTF-8 text"),
    ],
)
def test_a_secret_file_that_is_not_a_secret_is_refused_by_name(
    environment: pytest.MonkeyPatch, tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "FARO_POSTGRES__DSN").write_bytes(content)
    environment.setenv(SECRETS_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(SecretFileError, match=f"secret file .*FARO_POSTGRES__DSN: {message}"):
        FaroSettings()


def test_a_missing_folder_stops_a_service_with_one_line(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment.setenv(SECRETS_DIR_VARIABLE, str(tmp_path / "absent"))
    result = CliRunner().invoke(cli, ["serve", "query"])
    assert result.exit_code != 0
    assert isinstance(result.exception, SecretFileError)
    assert (
        str(result.exception) == f"{SECRETS_DIR_VARIABLE} names {tmp_path / 'absent'}, which is not a folder"
    )


def test_a_fallback_targets_key_file_is_read_from_the_secrets_folder(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = 'sk-"any"\\thing$(HOME)'
    folder = _mounted(tmp_path / "secrets", {"FALLBACK_TARGET_0_API_KEY": key + "\n"})
    environment.setenv(SECRETS_DIR_VARIABLE, str(folder))
    relative = GatewayTarget.model_validate({"api_key_file": "FALLBACK_TARGET_0_API_KEY"})
    absolute = GatewayTarget.model_validate({"api_key_file": str(folder / "FALLBACK_TARGET_0_API_KEY")})
    for target in (relative, absolute):
        assert target.api_key is not None and target.api_key.get_secret_value() == key


@pytest.mark.parametrize(
    ("target", "folder_set", "message"),
    [
        ({"api_key": "k", "api_key_file": "KEY"}, True, "give api_key or api_key_file, not both"),
        ({"api_key_file": "ABSENT"}, True, "secret file .*ABSENT: cannot read: No such file"),
        ({"api_key_file": "KEY"}, False, "secret file 'KEY' is relative, and FARO_SECRETS_DIR is not set"),
    ],
)
def test_a_fallback_key_file_that_cannot_be_read_is_a_settings_error(
    environment: pytest.MonkeyPatch, tmp_path: Path, target: dict[str, str], folder_set: bool, message: str
) -> None:
    (tmp_path / "KEY").write_text("k")
    if folder_set:
        environment.setenv(SECRETS_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(ValidationError, match=message):
        GatewayTarget.model_validate(target)
