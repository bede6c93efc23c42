"""``python -m faro_workloads.cli``."""

from faro_workloads.cli import main

main()
