"""What ``faro local`` was asked for (:class:`LocalOptions`), where it keeps things under ``--data-dir``, and
the error it reports for what the user can fix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from faro_workloads.contract.settings import ChunkingConfig, EmbeddingConfig, GenerationsConfig, QueryConfig
from faro_workloads.errors import ConfigurationError

EmbedderChoice = Literal["hash", "minilm", "portkey"]
MARKER_FILE = "faro-local.json"  # the dimension of the vectors the data dir holds
MAX_BODY_BYTES = 10 * 1024 * 1024
LOCAL_PIPELINE = "local"
BUCKET_FOLDER = "s3-bucket"  # the durable copy of the local bucket (--s3)
MOTO_PID_FILE = "s3-server.pid"


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
