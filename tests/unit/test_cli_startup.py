"""The ``faro`` command starts without importing the stores' and the model gateway's clients: every command
module is imported to register its command, so one heavy import at module level made each command (``faro
keys --help`` included) take seconds to start."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("qdrant_client", "portkey_ai", "psycopg", "boto3", "sentence_transformers", "torch", "kopf")


def test_registering_every_command_imports_no_client_library() -> None:
    probe = (
        "import sys\n"
        "from faro_workloads.cli import _register_commands\n"
        "_register_commands()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "", f"imported at start: {loaded.stdout.strip()}"
