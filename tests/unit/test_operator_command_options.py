"""``faro operator`` checks its namespaces and liveness endpoint before anything starts: a wrong one is
exit 2 with one line, not a failure after the operator has connected (or a probe that never answers)."""

from __future__ import annotations

import sys

import pytest

from faro_workloads.cli import main


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--namespace", "Team_A"], "'Team_A' is not a namespace name"),
        (["--namespace", "team-a", "--namespace", "-x"], "'-x' is not a namespace name"),
        (["--liveness", "http://0.0.0.0/healthz"], "is not http://HOST:PORT/PATH"),
        (["--liveness", "https://0.0.0.0:8080/healthz"], "is not http://HOST:PORT/PATH"),
        (["--liveness", "http://0.0.0.0:99999/healthz"], "is not http://HOST:PORT/PATH"),
        (["--liveness", "healthz"], "is not http://HOST:PORT/PATH"),
    ],
)
def test_a_wrong_option_is_exit_2_in_one_line(
    args: list[str], says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["faro", "operator", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("faro: Invalid value for '--") and says in err[0], err


@pytest.mark.parametrize("namespace", ["team-a", "team-*", "!kube-system", "a", "prod-?"])
def test_namespace_names_and_kopf_patterns_pass(namespace: str) -> None:
    from faro_workloads.cli.operator_commands import NAMESPACE_PATTERN

    assert NAMESPACE_PATTERN.match(namespace)
