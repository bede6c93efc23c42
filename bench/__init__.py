"""Faro benchmarks: run each with ``python -m bench.<name>``; each measures its baseline in the same run."""
