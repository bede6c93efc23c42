"""Faro benchmarks: run each with ``python -m bench.<name>``; each measures its baseline in the same run.

They start their servers with the tests' helpers (``tests/support``, not part of the product package): as in
the tests (``pythonpath`` in ``pyproject.toml``), ``tests/`` goes on ``sys.path`` once, here, so a benchmark
imports them as ``from support.postgres import temporary_postgres``.
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1] / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
