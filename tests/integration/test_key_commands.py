"""``faro keys new|check`` as a user runs them: the key on stdout once, its digest (with scope and tenant)
in the keys file, and bad input answered with exit 2 and one readable line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faro_workloads.contract.access import KEY_PREFIX, key_digest

pytestmark = pytest.mark.integration


def _faro(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faro_workloads.cli", "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_new_keys_go_into_the_file_with_their_scope_and_tenant(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    made = _faro("new", "--name", "team-a-ui", "--scope", "query", "--tenant", "team-a", "--file", str(keys))
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith(KEY_PREFIX) and key not in keys.read_text()
    assert "added 'team-a-ui' (query, tenant team-a)" in made.stderr
    assert _faro("new", "--name", "ops", "--scope", "admin", "--file", str(keys)).returncode == 0
    entries = json.loads(keys.read_text())["keys"]
    assert entries[0] == {
        "name": "team-a-ui",
        "sha256": key_digest(key),
        "scope": "query",
        "tenant": "team-a",
    }
    assert entries[1]["tenant"] is None
    checked = _faro("check", str(keys))
    assert checked.returncode == 0 and checked.stdout.splitlines() == [
        "team-a-ui\tquery\tteam-a",
        "ops\tadmin\t-",
    ]


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    for args in (
        ("new", "--name", "ui", "--scope", "query", "--tenant", "Team A", "--file", str(keys)),
        ("new", "--name", "Bad Name", "--scope", "query"),
    ):
        refused = _faro(*args)
        assert refused.returncode == 2, refused
        assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not keys.exists()  # nothing written for a refused key
    assert _faro("new", "--name", "ui", "--scope", "query", "--file", str(keys)).returncode == 0
    again = _faro("new", "--name", "ui", "--scope", "write", "--file", str(keys))
    assert again.returncode == 2 and "has a key named 'ui' already" in again.stderr
    keys.write_text('{"keys": [{"name": "x", "sha256": "00", "scope": "query"}]}')
    broken = _faro("check", str(keys))
    assert broken.returncode == 2 and "sha256" in broken.stderr
