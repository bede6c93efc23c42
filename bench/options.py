"""Command-line options shared by the store benchmarks (sizes, repeats, Qdrant location, profiling)."""

from __future__ import annotations

import argparse
from typing import get_args

from faro_workloads.contract.settings import DEFAULT_LOCAL_ENGINE, LocalEngine

QUICK_CHUNKS = 200


def store_bench_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser with --chunks, --chunks-per-doc, --repeat, --warmup, --qdrant, --qdrant-engine, --quick and
    --profile."""
    parser = argparse.ArgumentParser(prog=prog, description=(doc or "").split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=2000, help="About this many chunks in all.")
    parser.add_argument("--chunks-per-doc", type=int, default=8, help="Chunks per document.")
    parser.add_argument("--repeat", type=int, default=3, help="Measured runs (the median is reported).")
    parser.add_argument("--warmup", type=int, default=1, help="Unmeasured runs first.")
    parser.add_argument(
        "--qdrant",
        choices=["memory", "disk"],
        default="memory",
        help="Qdrant local mode in memory, or on a folder (the Python engine commits SQLite per point).",
    )
    add_engine_option(parser)
    parser.add_argument("--quick", action="store_true", help=f"Smoke run: {QUICK_CHUNKS} chunks, 1 run.")
    parser.add_argument("--profile", action="store_true", help="Profile one Faro run (pyinstrument, stderr).")
    return parser


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--qdrant-engine",
        choices=get_args(LocalEngine),
        default=DEFAULT_LOCAL_ENGINE,
        help="Local mode's engine, for Faro and the raw baseline alike: Qdrant Edge (as faro local runs) or "
        "qdrant-client's Python local mode.",
    )


def parse_store_bench_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks, args.repeat, args.warmup = QUICK_CHUNKS, 1, 1
    return args
