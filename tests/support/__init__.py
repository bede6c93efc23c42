"""Helpers shared by the tests (and the benchmarks, ``scripts/render_dashboard_pngs.py``): real servers and
processes started for a test (PostgreSQL, the Portkey gateway, ...), the checkov policy, the dashboards and
the metric catalogue, polling with a deadline.

Not tests: pytest collects nothing here. ``tests/`` is on ``sys.path`` (``pythonpath`` in ``pyproject.toml``),
so tests import these as ``from support.polling import wait_for``.
"""
