"""``--url`` (or ``FARO_URL``) without a scheme is a mistyped option, exit 2 in one line, not an API that
cannot be reached (exit 3: 'try again later')."""

from __future__ import annotations

import sys

import pytest

from faro_workloads.cli import main


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://127.0.0.1:8080", "http://"])
def test_a_url_that_is_not_http_is_exit_2(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["faro", "query", "cats", "--url", url])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"faro: Invalid value for '--url' (env var: 'FARO_URL'): {url!r} is not an http(s) URL "
        "(e.g. http://127.0.0.1:8080)"
    )
