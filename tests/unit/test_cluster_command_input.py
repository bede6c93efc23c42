"""Careless input to the cluster-side commands is one line and exit 2: two flags that go apart, a folder
that is not there, a file that is not text, a keys file that is not JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from faro_workloads.cli import main


def _run(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setattr(sys, "argv", ["faro", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


def test_careless_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "manifests.yaml"
    binary.write_bytes(b"\x80\x81\xfe binary")
    keys = tmp_path / "keys.json"
    keys.write_bytes(b"\xfe\x9a not json")

    def line(*argv: str | Path) -> str:
        return _run([str(arg) for arg in argv], monkeypatch, capsys)

    assert line("crds", "--write", tmp_path / "w", "--check", tmp_path) == (
        "faro: --write and --check go apart: write the CRDs, or check them"
    )
    assert "does not exist" in line("crds", "--check", tmp_path / "nowhere")
    assert line("render", binary) == f"faro: {binary} is not UTF-8 text"
    assert line("model-server", "--embedder", "minilm", "--model", "x").startswith(
        "faro: --dimension and --model are the hashing model's"
    )
    assert (
        line("keys", "check", keys)
        == f"faro: keys file {keys}: keys: Invalid JSON: expected value at line 1 column 1"
    )
