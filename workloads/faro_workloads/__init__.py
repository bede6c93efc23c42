"""Faro workloads: the data plane (chunking, embeddings, dual-written stores) and its services."""

__version__ = "0.1.0"


class FaroError(RuntimeError):
    """An expected failure with a message for people; the CLI prints it as one line and exits 1."""
