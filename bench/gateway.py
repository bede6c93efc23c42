"""Benchmark 5: embeddings through the npm Portkey gateway against the same model server reached directly.

One model server (Faro's OpenAI-compatible ``/v1/embeddings`` endpoint, in this process) serves the real
all-MiniLM-L6-v2 model; the pinned npm gateway (``workloads/gateway``) runs on loopback in front of it. Both
paths use the same client, Faro's ``PortkeyEmbedder`` (portkey-ai SDK): direct, its base URL is the model
server; via the gateway, its base URL is the gateway with ``provider=openai`` and ``custom_host`` = the
model server. Each request embeds a batch of 32 chunk-sized texts (about 200 tokens each); requests
alternate between the paths (the order flipping each round) so that drift in the machine's load hits both.

The claim: ``ratio`` = direct median latency / gateway median latency (higher is better; the target
1/1.05 = 0.952 is a gateway overhead of at most 5%), ``overhead_pct`` = (gateway / direct - 1) * 100. The
hashing model (almost no model time, so nearly all of its latency is HTTP) is measured too, for information:
its overhead in milliseconds is what the gateway adds per request.

    python -m bench.gateway [--requests 30] [--batch 32] [--models minilm,hash] [--warmup 5]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from bench.corpus import document_text
from bench.measure import median, percentiles_ms, timed
from bench.report import BenchReport, Row
from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.settings import EmbeddingConfig
from faro_workloads.core.embedding.base import Embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.model_server import build_model_server
from faro_workloads.core.embedding.portkey import PortkeyEmbedder

from support.portkey_gateway import GatewayError, running_gateway

NAME = "gateway"
TARGET = round(1 / 1.05, 4)
TEXT_WORDS = 150  # about 200 MiniLM tokens: a chunk of Faro's default size
BATCH_POOL = 8  # distinct batches, reused in turn by both paths
PATHS = ("direct", "gateway")


@dataclass(slots=True)
class PathTimes:
    """Seconds per request, one list per path."""

    direct: list[float]
    gateway: list[float]


def local_model(name: str, batch: int) -> Embedder:
    if name == "minilm":
        from faro_workloads.core.embedding.minilm import MiniLMEmbedder

        return MiniLMEmbedder(batch_size=batch)
    return HashingEmbedder(batch_size=batch)


@contextmanager
def model_server(model: Embedder) -> Iterator[str]:
    """Faro's model server over ``model`` on a free loopback port: its OpenAI API root (``.../v1``)."""
    server = BackgroundServer(build_model_server(model), "127.0.0.1", free_port())
    server.start()
    try:
        yield f"{server.url}/v1"
    finally:
        server.stop()


def clients(model: Embedder, server_v1: str, gateway: str, batch: int) -> dict[str, PortkeyEmbedder]:
    """The same client twice: straight to the model server, and via the gateway's openai provider."""
    common = {
        "kind": "portkey",
        "model": model.model,
        "dimension": model.dimension,
        "batch_size": batch,
        "max_attempts": 1,
        "timeout_seconds": 120,
    }
    return {
        "direct": PortkeyEmbedder(EmbeddingConfig.model_validate({**common, "gateway_url": server_v1})),
        "gateway": PortkeyEmbedder(
            EmbeddingConfig.model_validate(
                {**common, "gateway_url": f"{gateway}/v1", "provider": "openai", "custom_host": server_v1}
            )
        ),
    }


def batches(batch: int, seed: int = 5) -> list[list[str]]:
    rng = random.Random(seed)
    return [[document_text(TEXT_WORDS, rng) for _ in range(batch)] for _ in range(BATCH_POOL)]


def measure(
    embedders: dict[str, PortkeyEmbedder], texts: list[list[str]], requests: int, warmup: int
) -> PathTimes:
    """``warmup`` unmeasured requests per path, then ``requests`` per path, alternating (order flipped each
    round); every request is one ``embed`` call of one batch."""
    times = PathTimes([], [])
    for index in range(warmup):
        for path in PATHS:
            embedders[path].embed(texts[index % len(texts)])
    for index in range(requests):
        batch = texts[index % len(texts)]
        for path in PATHS if index % 2 == 0 else reversed(PATHS):
            seconds = timed(lambda path=path, batch=batch: embedders[path].embed(batch))
            getattr(times, path).append(seconds)
    return times


def path_row(name: str, seconds: Sequence[float], batch: int) -> Row:
    return Row(
        name,
        {
            **{key: value for key, value in percentiles_ms(seconds).items() if key != "p99_ms"},
            "mean_ms": 1000.0 * sum(seconds) / len(seconds),
            "texts/s": batch * len(seconds) / sum(seconds),
            "requests": len(seconds),
        },
    )


def run_model(name: str, gateway: str, args: argparse.Namespace) -> tuple[list[Row], dict[str, float]]:
    """Rows of both paths for one model, and its figures (median ms per path, overhead)."""
    model = local_model(name, args.batch)
    with ExitStack() as stack:
        server_v1 = stack.enter_context(model_server(model))
        embedders = clients(model, server_v1, gateway, args.batch)
        for embedder in embedders.values():
            stack.callback(embedder.close)
        times = measure(embedders, batches(args.batch), args.requests, args.warmup)
    direct, via_gateway = median(times.direct), median(times.gateway)
    rows = [
        path_row(f"direct ({name})", times.direct, args.batch),
        path_row(f"gateway ({name})", times.gateway, args.batch),
    ]
    return rows, {
        "ratio": direct / via_gateway,
        "overhead_pct": 100.0 * (via_gateway / direct - 1.0),
        "overhead_ms": 1000.0 * (via_gateway - direct),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="measured requests per path (default 30)")
    parser.add_argument("--batch", type=int, default=32, help="texts per request (default 32)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured requests per path first")
    parser.add_argument(
        "--models",
        default="minilm,hash",
        help="models served, the first one is the claim: minilm, hash or both (default minilm,hash)",
    )
    args = parser.parse_args(argv)
    args.models = args.models.split(",")
    if not args.models or not set(args.models) <= {"minilm", "hash"}:
        parser.error("--models takes minilm, hash or minilm,hash")
    if args.requests < 1 or args.batch < 1 or args.warmup < 0:
        parser.error("--requests and --batch must be at least 1, --warmup at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rows: list[Row] = []
    figures: dict[str, dict[str, float]] = {}
    try:
        with running_gateway() as gateway:
            for name in args.models:
                model_rows, figures[name] = run_model(name, gateway, args)
                rows += model_rows
    except GatewayError as exc:
        print(f"gateway: {str(exc).splitlines()[0]}")
        return 2
    claim = args.models[0]
    report = BenchReport(
        name=NAME,
        ratio=figures[claim]["ratio"],
        target=TARGET,
        rows=rows,
        parameters={
            "requests": args.requests,
            "batch": args.batch,
            "warmup": args.warmup,
            "models": args.models,
            "text_words": TEXT_WORDS,
            "client": "PortkeyEmbedder (portkey-ai SDK), same for both paths",
        },
        extra={
            "ratio_is": (
                f"direct median latency / gateway median latency, {claim} model (higher is better; "
                f"target {TARGET} = at most 5% gateway overhead)"
            ),
            "overhead_pct": round(figures[claim]["overhead_pct"], 2),
            "per_model": {
                name: {key: round(value, 4) for key, value in values.items()}
                for name, values in figures.items()
            },
        },
    )
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
