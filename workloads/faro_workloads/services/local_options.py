"""What ``faro local`` was asked for (:class:`LocalOptions`), where it keeps things under ``--data-dir``, and
the error it reports for what the user can fix."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from faro_workloads.contract.auth_settings import AuthConfig
from faro_workloads.contract.settings import (
    DEFAULT_LOCAL_ENGINE,
    ChunkingConfig,
    EmbeddingConfig,
    GenerationsConfig,
    LocalEngine,
    QueryConfig,
)
from faro_workloads.errors import ConfigurationError

log = logging.getLogger(__name__)

EmbedderChoice = Literal["hash", "minilm", "portkey"]
MARKER_FILE = "faro-local.json"  # the dimension of the vectors the data dir holds
MAX_BODY_BYTES = 10 * 1024 * 1024
LOCAL_PIPELINE = "local"
BUCKET_FOLDER = "s3-bucket"  # the durable copy of the local bucket (--s3)
MOTO_PID_FILE = "s3-server.pid"


def local_access(options: LocalOptions) -> AuthConfig:
    """Who may call the local API: the keys of ``--keys-file``; without, anyone who can reach it (on
    purpose: on loopback by default; a warning when it listens on another address)."""
    if options.keys_file is not None:
        return AuthConfig(keys_file=options.keys_file)
    if not _loopback(options.host):
        log.warning(
            "the local API listens on %s with no API keys: anyone who can reach it may read, write "
            "and delete documents (give it --keys-file)",
            options.host,
        )
    return AuthConfig(anonymous=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LocalModeError(ConfigurationError):
    """A problem the user can fix (wrong flags for an existing data dir, a missing extra...)."""


@dataclass
class LocalOptions:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    embedder: EmbedderChoice = "hash"
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    portkey: EmbeddingConfig | None = None
    query: QueryConfig = field(default_factory=QueryConfig)
    generations: GenerationsConfig = field(default_factory=GenerationsConfig)
    s3: bool = False  # the S3 -> SQS -> embedding engine path instead of direct ingest
    keys_file: Path | None = None  # API keys (faro keys new): without, the API is open (loopback by default)
    qdrant_engine: LocalEngine = DEFAULT_LOCAL_ENGINE
